"""Proxy decoding: the logit arithmetic and one greedy loop for any number of models, with teacher forcing
through the same ensemble.

Generic pieces that later chapters could share (``decode``, ``proxy_logits``) live here for now, because the
engine modules key every cached model and must not change in a chapter's issue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from sticky import probe


def proxy_logits(base: torch.Tensor, expert: torch.Tensor, anti: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """s_M + alpha * (s_M+ - s_M-) on raw logits (not probabilities), the paper's equation."""
    return base + alpha * (expert - anti)


def proxy_combine(alpha: float) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """The ``combine`` of ``decode`` for parts ordered (base, expert, anti-expert)."""
    return lambda logits: proxy_logits(logits[0], logits[1], logits[2], alpha)


def alone(logits: list[torch.Tensor]) -> torch.Tensor:
    """The ``combine`` of ``decode`` for one model decoding alone."""
    return logits[0]


@dataclass
class Part:
    """One model of a decoding ensemble and its own token rows (each model sees its own prompt)."""

    model: torch.nn.Module
    rows: list[list[int]]


def _pad_id(model) -> int:
    return getattr(model.config, "pad_token_id", None) or 0


@torch.no_grad()
def decode(parts: Sequence[Part], combine: Callable[[list[torch.Tensor]], torch.Tensor], max_new_tokens: int,
           stop_ids: Sequence[int] = (), use_cache: bool = True, batch_size: int = 64) -> list[list[int]]:
    """Greedy decoding from ``combine(next-token logits of every part)``; the chosen token is appended to every
    part's sequence. Rows are left-padded per part (each with its own attention mask and positions); with
    ``use_cache`` each part keeps its own KV cache and feeds one token per step, without it every step
    recomputes every part's whole sequence (the naive way, for the benchmark and the equality test).
    Returns the new token ids of each row, cut before the first stop id."""
    n = len(parts[0].rows)
    if any(len(p.rows) != n for p in parts):
        raise ValueError("every part needs one row per prompt; allowed: parts with the same number of rows")
    stops = set(int(s) for s in stop_ids)
    out: list[list[int]] = []
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        batches = []
        for p in parts:
            p.model.eval()
            device = next(p.model.parameters()).device
            batches.append(probe.left_pad([p.rows[i] for i in idx], _pad_id(p.model), device))
        new = torch.empty((len(idx), 0), dtype=torch.long)
        done = torch.zeros(len(idx), dtype=torch.bool)
        states = []
        for p, b in zip(parts, batches):  # prefill
            res = p.model(**b, use_cache=use_cache, logits_to_keep=1)
            states.append(res.cache if use_cache else None)
            b["_logits"] = res.logits[:, -1].float().cpu()
        for t in range(max_new_tokens):
            token = combine([b["_logits"] for b in batches]).argmax(-1)
            new = torch.cat([new, token[:, None]], dim=1)
            done |= torch.tensor([int(x) in stops for x in token.tolist()], dtype=torch.bool)
            if bool(done.all()) or t == max_new_tokens - 1:
                break
            for k, (p, b) in enumerate(zip(parts, batches)):
                device = b["input_ids"].device
                tok = token[:, None].to(device)
                b["attention_mask"] = torch.cat([b["attention_mask"], b["attention_mask"].new_ones((len(idx), 1))], 1)
                b["position_ids"] = torch.cat([b["position_ids"], b["position_ids"][:, -1:] + 1], 1)
                b["input_ids"] = torch.cat([b["input_ids"], tok], 1)
                if use_cache:
                    res = p.model(input_ids=tok, attention_mask=b["attention_mask"],
                                  position_ids=b["position_ids"][:, -1:], cache=states[k], use_cache=True,
                                  logits_to_keep=1)
                    states[k] = res.cache
                else:
                    res = p.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                                  position_ids=b["position_ids"], use_cache=False, logits_to_keep=1)
                b["_logits"] = res.logits[:, -1].float().cpu()
        for row in new.tolist():
            cut = next((j for j, x in enumerate(row) if x in stops), len(row))
            out.append(row[:cut])
    return out


@torch.no_grad()
def forced_logprobs(parts: Sequence[Part], combine, continuations: Sequence[Sequence[int]], batch_size: int = 64):
    """Teacher forcing: log-softmax of ``combine`` at every token of each continuation, read for that token.

    Each part scores ``its row + continuation``; returns one array per row with log P(continuation token j |
    everything before it) under the combined distribution."""
    n = len(continuations)
    out: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    for start in range(0, n, batch_size):
        idx = list(range(start, min(n, start + batch_size)))
        width = max(len(continuations[i]) for i in idx)
        per_part = []
        for p in parts:
            device = next(p.model.parameters()).device
            b = probe.left_pad([p.rows[i] + list(continuations[i]) for i in idx], _pad_id(p.model), device)
            logits = p.model(**b, use_cache=False, logits_to_keep=width + 1).logits[:, :-1].float().cpu()
            per_part.append(logits)  # position j predicts the token at j+1 of the last width+1 positions
        logp = torch.log_softmax(combine(per_part), dim=-1)
        for r, i in enumerate(idx):
            c = torch.tensor(continuations[i])
            k = len(c)
            rows = logp[r, width - k:]
            out[i] = rows.gather(-1, c[:, None]).squeeze(-1).numpy()
    return out
