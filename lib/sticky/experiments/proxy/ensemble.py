"""The proxy's logit arithmetic, as a ``combine`` of ``sticky.decoding.decode``, and teacher forcing through
the same ensemble of ``Part``s."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from sticky import probe
from sticky.decoding import Part, model_pad_id


def proxy_logits(base: torch.Tensor, expert: torch.Tensor, anti: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """s_M + alpha * (s_M+ - s_M-) on raw logits (not probabilities), the paper's equation."""
    return base + alpha * (expert - anti)


def proxy_combine(alpha: float) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """The ``combine`` of ``decode`` for parts ordered (base, expert, anti-expert)."""
    return lambda logits: proxy_logits(logits[0], logits[1], logits[2], alpha)


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
            b = probe.left_pad([p.rows[i] + list(continuations[i]) for i in idx], model_pad_id(p.model), device)
            logits = p.model(**b, use_cache=False, logits_to_keep=width + 1).logits[:, :-1].float().cpu()
            per_part.append(logits)  # position j predicts the token at j+1 of the last width+1 positions
        logp = torch.log_softmax(combine(per_part), dim=-1)
        for r, i in enumerate(idx):
            c = torch.tensor(continuations[i])
            k = len(c)
            rows = logp[r, width - k:]
            out[i] = rows.gather(-1, c[:, None]).squeeze(-1).numpy()
    return out
