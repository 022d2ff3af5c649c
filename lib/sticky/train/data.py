"""What a pre-training step is made of: documents packed into blocks, the texts inserted at chosen steps, and
the generator that draws the batch of a step from ``(seed, step)`` alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

IGNORE = -100  # label of a position that carries no loss (padding, prompts)


def pack(token_ids: Sequence[Sequence[int]], seq_len: int, bos: int | None, eos: int | None) -> torch.Tensor:
    """Concatenate documents as ``bos doc eos bos doc eos ...`` and cut the stream into ``[n_blocks, seq_len]``.

    No padding: a document may straddle two blocks; the tail that does not fill a last block is dropped.
    """
    stream: list[int] = []
    for doc in token_ids:
        if bos is not None:
            stream.append(bos)
        stream.extend(doc)
        if eos is not None:
            stream.append(eos)
    n_blocks = len(stream) // seq_len
    if n_blocks == 0:
        raise ValueError(f"seq_len={seq_len} is longer than the whole corpus ({len(stream)} tokens)")
    return torch.tensor(stream[: n_blocks * seq_len], dtype=torch.long).view(n_blocks, seq_len)


@dataclass
class Insertion:
    """A text (token ids) that replaces one row of the background minibatch at each of ``steps``."""

    ids: list[int]
    steps: list[int]


def consecutive(start: int, n: int) -> list[int]:
    """Steps ``start, start+1, ..., start+n-1``."""
    return list(range(start, start + n))


def spaced(start: int, n: int, every: int) -> list[int]:
    """Steps ``start, start+every, ...`` (n of them)."""
    return list(range(start, start + n * every, every))


def _step_generator(seed: int, step: int) -> torch.Generator:
    # The batch of a step is a function of (seed, step) alone: controls and resumed runs see the same data.
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def _row(ids: Sequence[int], seq_len: int, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One right-padded row and its labels (IGNORE on padding). Right padding needs no attention mask under a
    causal mask: real tokens never look at the padding that follows them."""
    ids = list(ids)[:seq_len]
    n = len(ids)
    x = torch.full((seq_len,), pad, dtype=torch.long)
    x[:n] = torch.tensor(ids, dtype=torch.long)
    y = x.clone()
    y[n:] = IGNORE
    return x, y
