"""Optimisation: where a run goes (device, threads), AdamW and its decay groups, the learning-rate schedule, and
ignore-k pruning of each step's largest updates."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from sticky import parallel
from sticky.train.config import TrainConfig


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``/``cuda`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r}; allowed: cpu, cuda, auto")
    return torch.device(name)


def device_type(name: str) -> str:
    """The device type a run on ``name`` uses (``"cpu"``, ``"cuda"``): the part of a cache key that says where
    a model was trained or measured."""
    return resolve_device(name).type


def usable_cpus() -> int:
    """The CPUs this process may run on (``taskset`` narrows them): the threads training uses, and what a
    chapter's timing was measured on."""
    return len(parallel.cpus())


def _threads() -> None:
    torch.set_num_threads(usable_cpus())


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decay on 2-D weight matrices only (not embeddings, norms, biases); fused kernel when possible."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay = [], []
    for _, p in model.named_parameters():  # tied weights appear once
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and id(p) not in embeddings else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    try:  # fused AdamW exists for CPU and CUDA in recent torch; one kernel instead of a dozen per tensor
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), foreach=True)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``cfg.lr``, then cosine to ``cfg.lr * cfg.min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - 1 - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def prune_updates(
    params: Sequence[torch.Tensor], before: Sequence[torch.Tensor], k: float, scope: str = "tensor"
) -> int:
    """ignore-k (Sun et al. 2025): undo the ``k`` fraction of this step's updates with the largest magnitude.

    ``params`` hold the values after the optimizer step, ``before`` the values before it; the update is their
    difference. ``scope="tensor"`` (the default) drops ``round(k * numel)`` entries of every tensor, so each
    tensor keeps its share of the update; ``scope="global"`` drops ``round(k * total)`` entries ranked across
    all tensors at once. Ties at the threshold are broken by ``torch.topk``, so exactly that many entries are
    restored. Optimizer moments are left as they are (the paper prunes the applied update, not the state).
    Returns how many entries were restored.
    """
    if not 0.0 <= k < 1.0:
        raise ValueError(f"ignore_k={k}; allowed: a fraction in [0, 1)")
    if k == 0.0:
        return 0
    if scope == "tensor":
        restored = 0
        for p, old in zip(params, before):
            n = round(k * p.numel())
            if n == 0:
                continue
            flat, flat_old = p.view(-1), old.view(-1)
            idx = (flat - flat_old).abs().topk(n, sorted=False).indices
            flat[idx] = flat_old[idx]
            restored += n
        return restored
    if scope == "global":
        deltas = torch.cat([(p - old).abs().view(-1) for p, old in zip(params, before)])
        n = round(k * deltas.numel())
        if n == 0:
            return 0
        idx = deltas.topk(n, sorted=False).indices
        offset = 0
        for p, old in zip(params, before):
            size = p.numel()
            mine = idx[(idx >= offset) & (idx < offset + size)] - offset
            p.view(-1)[mine] = old.view(-1)[mine]
            offset += size
        return n
    raise ValueError(f"ignore_k_scope={scope!r}; allowed: tensor, global")
