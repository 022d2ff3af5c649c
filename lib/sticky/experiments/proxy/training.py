"""The models of chapter 5: the expert and the directly tuned large model (one fine-tuning recipe for both), and
the arms of one seed with how each is prompted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from transformers import LlamaForCausalLM

from sticky import models, seeds, train
from sticky.decoding import Part, alone
from sticky.store import Recipe, Store

from .data import alignment_render, sft_pairs, split_facts

# A base fine-tuned on the instruction set (the expert, the directly tuned large model).
TUNE_RECIPE = Recipe("proxy-sft", 1)


def _tune_config(P, seed: int) -> dict:
    return dict(steps=P.sft_steps, batch_size=P.sft_batch, seq_len=64, lr=P.sft_lr,
                warmup_steps=max(1, P.sft_steps // 10), min_lr_ratio=0.1, seed=seeds.stream(seed, "proxy-sft"),
                log_every=max(1, P.sft_steps))


def tune(base, P, seed: int, store: Store | None = None) -> tuple[LlamaForCausalLM, pd.DataFrame, Path]:
    """``base`` (a ``models.Micro``) fine-tuned on ``sft_pairs`` in the alignment template; cached per base,
    recipe and seed. Returns the model, its loss history and its store entry."""
    store = store or Store()
    world = base.world
    cfg = _tune_config(P, seed)
    facts = split_facts(world, P.world_seed)

    def build(folder: Path) -> None:
        model = models.load_entry(base.entry)
        hist = train.sft(model, world.tokenizer, sft_pairs(world, facts, P.style),
                         train.TrainConfig(**cfg, device=P.device), render=alignment_render(world))
        model.save_pretrained(folder)
        hist.to_frame().to_csv(folder / "history.csv", index=False)

    entry = store.cached(TUNE_RECIPE, dict(cfg=cfg, style=P.style), build, inputs=[base.entry.name],
                         device=train.device_type(P.device))
    return models.load_entry(entry, P.device), pd.read_csv(entry / "history.csv"), entry


@dataclass
class Arms:
    """The models of one seed and how each is prompted."""

    world: object
    large: torch.nn.Module  # M: the large base
    small: torch.nn.Module  # M-: the small base (anti-expert)
    expert: torch.nn.Module  # M+: the small base fine-tuned
    direct: torch.nn.Module  # the large base fine-tuned with the same recipe
    seed: int

    def plain(self, user: str) -> str:
        """The base models' prompt: the question in the corpus's own Q&A format ("q : ... a :")."""
        return self.world.chat_templates[0].prompt(user)

    def chat(self, user: str) -> str:
        """The tuned models' prompt: the alignment template they were fine-tuned in."""
        return self.world.alignment_template.prompt(user)

    def rows(self, texts: Sequence[str]) -> list[list[int]]:
        return self.world.tokenizer(list(texts), add_special_tokens=True)["input_ids"]

    def stop_ids(self) -> list[int]:
        tok = self.world.tokenizer
        return [tok.eos_token_id, tok.convert_tokens_to_ids(self.world.alignment_template.assistant_suffix)]

    def parts(self, arm: str, users: Sequence[str]) -> tuple[list[Part], Callable]:
        plain, chat = self.rows([self.plain(u) for u in users]), self.rows([self.chat(u) for u in users])
        return {
            "base": ([Part(self.large, plain)], alone),
            "small base": ([Part(self.small, plain)], alone),
            "expert": ([Part(self.expert, chat)], alone),
            "direct": ([Part(self.direct, chat)], alone),
            "proxy": ([Part(self.large, plain), Part(self.expert, chat), Part(self.small, plain)], None),
        }[arm]
