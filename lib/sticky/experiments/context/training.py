"""What chapter 4 trains: the reading course (continued pre-training of the shared base model) and, for 4b,
the fine-tuning on facts (condition c), with the ``Recipe`` of each cached step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sticky import models, seeds, train
from sticky.store import Recipe, Store

from .data import finetune_texts, reading_course_texts
from .measurement import answer

# The base after the reading course; a fine-tuning run on facts, scored (not kept).
READER_RECIPE = Recipe("context-reader", 1)
FINETUNE_RECIPE = Recipe("context-finetune", 1)


def reader(base, steps: int, share: float, counterfactual: float, seed: int, device: str = "auto",
           store: Store | None = None):
    """(model, store entry name): the base model after the reading course (cached under the base model's
    entry); with ``steps == 0``, the base model itself."""
    if steps == 0:
        return base.model, base.entry.name
    store = store or Store()
    recipe = dict(base.recipe)
    cfg = train.TrainConfig(steps=steps, batch_size=recipe["batch_size"], seq_len=recipe["seq_len"], lr=1e-3,
                            warmup_steps=max(1, steps // 15), min_lr_ratio=0.1,
                            seed=seeds.stream(seed, "reading-course"), device=device)

    def build(folder: Path) -> None:
        model = models.load_entry(base.entry)
        tok = base.tokenizer
        ids = tok(reading_course_texts(base.world, share, counterfactual, seed), add_special_tokens=False)["input_ids"]
        blocks = train.pack(ids, cfg.seq_len, tok.bos_token_id, tok.eos_token_id)
        history = train.pretrain(model, blocks, cfg)
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)

    params = dict(steps=steps, share=share, counterfactual=counterfactual, seed=seed,
                  cfg={k: v for k, v in vars(cfg).items() if k != "device"})
    entry = store.cached(READER_RECIPE, params, build, inputs=[base.entry.name], device=train.device_type(device))
    return models.load_entry(entry), entry.name


def finetune(model, world, facts: pd.DataFrame, steps: int, seed: int, key: str, device: str = "auto",
             store: Store | None = None) -> pd.DataFrame:
    """Condition (c): continued training of ``model`` on the facts' documents mixed 1:1 with the world's
    corpus (so it keeps its language); closed-book accuracy afterwards in the ``qa`` template. The model's
    weights are restored afterwards. Cached per starting model (``key``: its store entry), facts, steps, seed."""
    store = store or Store()
    cfg = train.TrainConfig(steps=steps, batch_size=16, seq_len=64, lr=1e-3, warmup_steps=max(1, steps // 10),
                            min_lr_ratio=0.1, seed=seeds.stream(seed, "context-finetune"), device=device)
    params = dict(facts=list(facts.fact), steps=steps, seed=seed,
                  cfg={k: v for k, v in vars(cfg).items() if k != "device"})

    def compute() -> list[bool]:
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tok = world.tokenizer
        taught = finetune_texts(world, facts)
        background = seeds.rng(seed, "ft-bg").sample(list(world.pretrain["text"]), len(taught))
        texts = taught + background
        seeds.rng(seed, "ft-order").shuffle(texts)
        blocks = train.pack(tok(texts, add_special_tokens=False)["input_ids"], cfg.seq_len, tok.bos_token_id,
                            tok.eos_token_id)
        train.pretrain(model, blocks, cfg)
        prompts = [world.fact_prompt(e, r, "qa") for e, r in zip(facts.entity, facts.relation)]
        scored = answer(model, tok, prompts, list(facts.value), list(facts.value))
        model.load_state_dict(start)
        model.eval()
        return [bool(v) for v in scored.memorized]

    correct = store.json(FINETUNE_RECIPE, params, compute, inputs=[key], device=train.device_type(device))
    return facts.assign(correct=correct, seed=seed)
