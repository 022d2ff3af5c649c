"""Chapter 1's instrument, the lab: a base model (with a copy of its weights), a background stream and
prefix banks. ``Lab.run`` trains a fresh copy on the background with an inserted text (and a follow-up stage,
``FollowUp``, when there is one) and probes every bank prefix x keyword; ``micro_lab`` builds the micro-world
lab. The cached learning run is ``RUN_RECIPE``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from sticky import models, probe, seeds, train
from sticky.store import Recipe, Store

from .parameters import LEARN_SEQ

# A learning run of the lab (train a fresh copy with the text inserted, probe the banks and the text's own
# contexts, and the follow-up stage when there is one).
RUN_RECIPE = Recipe("priming-run", 1)


@dataclass(frozen=True)
class FollowUp:
    """A further training stage after planting (chapter 6 aligns the planted model): ``apply(model)`` trains
    it in place; ``settings`` (JSON-able: its config and its version) key the run's cache.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""

    name: str  # the key of its probe in the run's result
    settings: dict
    apply: Callable[[torch.nn.Module], object]


@dataclass
class Lab:
    """Everything a learning run needs; ``run`` is cached in the store under the base model's entry name.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""

    track: str  # "micro-world" or the real model's name
    model: torch.nn.Module
    tokenizer: object
    blocks: torch.Tensor  # the background stream, [n_blocks, seq_len]
    cfg: train.TrainConfig  # steps is set per run
    banks: dict[str, list[str]]  # theme -> thematic prefixes
    keywords: pd.DataFrame  # keyword, theme, token_id
    key: str  # the base model's store entry name (cache input)
    store: Store
    base_state: dict = field(default_factory=dict)

    def __post_init__(self):
        # copied once; every run starts from it (load_state_dict), never from disk
        self.base_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.prefixes = [p for theme in self.banks for p in self.banks[theme]]
        self.bank_theme = np.array([theme for theme in self.banks for _ in self.banks[theme]])

    def probe(self, contexts: list[str], targets: list[int]) -> dict:
        """Every bank prefix x keyword probability, and P(target_i | context_i), on the current weights."""
        bank = probe.probs_matrix(self.model, self.tokenizer, self.prefixes, list(self.keywords.token_id))
        own = probe.next_token_probs(self.model, self.tokenizer, contexts, targets) if contexts else np.array([])
        return {"bank": bank.tolist(), "own": own.tolist()}

    def run(self, text: str | None, schedule: list[int], steps: int, ignore_k: float = 0.0,
            contexts: list[str] = (), targets: list[int] = (), then: FollowUp | None = None) -> dict:
        """Train a fresh copy for ``steps`` minibatches, ``text`` replacing row 0 at the ``schedule`` steps
        (``None``: the background-only control), then ``probe``. With ``then``, also train that stage and probe
        again: the result is ``{"learned": probe, then.name: probe}``. Cached per base model, text and settings."""
        contexts, targets = list(contexts), [int(t) for t in targets]
        cfg = replace(self.cfg, steps=steps, log_every=max(steps, 1))
        params = dict(track=self.track, text=text, schedule=list(schedule), ignore_k=ignore_k,
                      contexts=contexts, targets=targets, prefixes=self.prefixes,
                      keywords=[int(t) for t in self.keywords.token_id],
                      cfg={k: v for k, v in vars(cfg).items() if k != "device"})
        if then is not None:
            params["then"] = dict(name=then.name, settings=then.settings)

        def compute() -> dict:
            self.model.load_state_dict(self.base_state)
            insertion = [train.Insertion(self.encode(text), list(schedule))] if text is not None else None
            train.pretrain(self.model, self.blocks, cfg, insertions=insertion, ignore_k=ignore_k)
            out = self.probe(contexts, targets)
            if then is not None:
                then.apply(self.model)
                out = {"learned": out, then.name: self.probe(contexts, targets)}
            self.model.load_state_dict(self.base_state)
            return out

        return self.store.json(RUN_RECIPE, params, compute, inputs=[self.key], device=train.device_type(cfg.device))

    def before(self, contexts: list[str], targets: list[int]) -> dict:
        self.model.load_state_dict(self.base_state)
        return self.probe(contexts, targets)

    def encode(self, text: str) -> list[int]:
        """Token ids of a training row: ``bos text eos``, as the packed background documents."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        return ([bos] if bos is not None else []) + ids + ([eos] if eos is not None else [])

    def token_of(self, keyword: str) -> int:
        return int(self.keywords.set_index("keyword").token_id[keyword])


def micro_lab(base, keywords: pd.DataFrame, P, store: Store | None = None) -> Lab:
    """The micro-world lab: the shared base model, its corpus as background stream, ``world.theme_prefixes``.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    tok = base.tokenizer
    # Rows of LEARN_SEQ tokens: every text fits (< 60 tokens with its stepping stone) and a step costs half
    # of the base's 128-token rows. The text's share of the step's tokens is then ~1/25 at batch 16.
    seq_len = min(LEARN_SEQ, base.recipe["seq_len"])
    cfg = train.TrainConfig(steps=P.learn_steps, batch_size=P.batch_size, seq_len=seq_len, lr=P.lr, warmup_steps=0,
                            min_lr_ratio=1.0, seed=seeds.stream(P.seed, "priming-learn"),
                            device=P.device)  # constant lr
    keywords = keywords.assign(token_id=tok.convert_tokens_to_ids(list(keywords.keyword)))
    banks = {theme: base.world.theme_prefixes(theme) for theme in base.world.themes}
    return Lab("micro-world", base.model, tok, models.corpus_blocks(base.world, seq_len), cfg, banks, keywords,
               base.entry.name, store or Store())
