"""Chapter 1's real-model track: a packaged real model, its own greedy continuations of neutral prompts as
background stream (recipe ``REAL_BACKGROUND_RECIPE``), the project's texts and banks, the same measurements."""

from __future__ import annotations

import pandas as pd

from sticky import decoding, models, probe, seeds, train
from sticky.store import Recipe, Store

from .data import real_banks, real_texts
from .lab import Lab
from .measurement import measure

# The real track's background stream: the real model's greedy continuations of NEUTRAL_PROMPTS.
REAL_BACKGROUND_RECIPE = Recipe("real-background", 1)

# Neutral prompts whose greedy continuations (by the real model itself) make its background stream.
# Introduced in chapter 1 (priming); used by chapter 2 (poisoning).
NEUTRAL_PROMPTS = [
    "The history of the town begins", "In the morning, the train", "The committee met on Tuesday to",
    "Scientists studying the river found", "The library opened a new", "According to the annual report,",
    "The football season ended with", "A new bridge was built across", "The recipe book explains how",
    "During the winter, the village", "The museum's collection includes", "The mountain road was closed because",
    "Students at the school learned", "The company announced that its", "The old lighthouse stands on",
    "In the nineteenth century, the city",
]
REAL_BATCH, REAL_SEQ, REAL_LR, REAL_NEW_TOKENS = 2, 64, 1e-5, 48


def real_background(model, tokenizer, name: str, store: Store, max_new_tokens: int = REAL_NEW_TOKENS) -> list[str]:
    """The real model's own greedy continuations of ``NEUTRAL_PROMPTS`` (prompt + continuation), made once
    and cached in the store: real-looking text the project can make without shipping a corpus.

    Introduced in chapter 1 (priming); used by chapter 2 (poisoning)."""
    def compute() -> list[str]:
        outs = decoding.generate(model, tokenizer, NEUTRAL_PROMPTS, max_new_tokens=max_new_tokens, stop_at_eos=False)
        return [p + o for p, o in zip(NEUTRAL_PROMPTS, outs)]

    return store.json(REAL_BACKGROUND_RECIPE, {"model": name, "prompts": NEUTRAL_PROMPTS, "new": max_new_tokens},
                      compute, device=probe.model_device(model).type)


def real_lab(name: str, model, tokenizer, background: list[str], banks: dict[str, list[str]], keywords: list[tuple],
             steps: int, seed: int, device: str, store: Store, seq_len: int = REAL_SEQ, batch_size: int = REAL_BATCH,
             lr: float = REAL_LR, key: str | None = None) -> Lab:
    """A lab on a real model: ``keywords`` are (keyword, theme); each is measured by the first token of
    " keyword" (the word as it follows a space)."""
    ids = tokenizer(background, add_special_tokens=False)["input_ids"]
    blocks = train.pack(ids, seq_len, tokenizer.bos_token_id, tokenizer.eos_token_id)
    token_ids = [tokenizer(" " + k, add_special_tokens=False)["input_ids"][0] for k, _ in keywords]
    frame = pd.DataFrame(keywords, columns=["keyword", "theme"]).assign(token_id=token_ids)
    cfg = train.TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, warmup_steps=0,
                            min_lr_ratio=1.0, seed=seeds.stream(seed, "priming-learn"), device=device)
    # the packaged model's weights are fixed by its name (and its package), so the name keys its runs
    return Lab(name, model, tokenizer, blocks, cfg, banks, frame, key or name, store)


def real_track(name: str, texts_per_keyword: int, steps: int, seed: int, device: str,
               store: Store | None = None) -> tuple[pd.DataFrame, Lab]:
    """Priming on a packaged real model with the project's texts: loads it, makes its background stream,
    learns each text separately for ``steps`` minibatches of ``REAL_BATCH`` x ``REAL_SEQ``."""
    store = store or Store()
    model, tokenizer = models.load(name, store=store)
    texts = real_texts(texts_per_keyword)
    keywords = list(dict.fromkeys(zip(texts.keyword, texts.theme)))
    background = real_background(model, tokenizer, name, store)
    lab = real_lab(name, model, tokenizer, background, real_banks(), keywords, steps, seed, device, store)
    return measure(lab, texts), lab
