"""The loop shared by pre-training, SFT and DPO (``_run``), the next-token loss, and pre-training itself.

The loop's outline and its design choices are in the package docstring (``sticky.train``). A spy on the loss
of pre-training patches ``next_token_loss`` here, in ``sticky.train.loop``: ``pretrain`` looks the name up in
this module.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from sticky import progress
from sticky.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from sticky.train.config import History, TrainConfig
from sticky.train.data import IGNORE, Insertion, _row, _step_generator
from sticky.train.optim import _threads, lr_at, make_optimizer, prune_updates, resolve_device


def _run(
    model: torch.nn.Module,
    cfg: TrainConfig,
    step_loss: Callable[[int, torch.device, History], tuple[torch.Tensor, int]],
    *,
    desc: str,
    ignore_k: float = 0.0,
    ignore_k_scope: str = "tensor",
    on_step: Callable | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
) -> History:
    """The loop shared by pretrain / sft / dpo. ``step_loss(step, device, history) -> (loss, n_tokens)``."""
    _threads()
    device = resolve_device(cfg.device)
    if cfg.precision not in ("fp32", "bf16"):
        raise ValueError(f"precision={cfg.precision!r}; allowed: fp32, bf16")
    if not 0.0 <= ignore_k < 1.0:  # checked before any work, not at the first pruned step
        raise ValueError(f"ignore_k={ignore_k}; allowed: a fraction in [0, 1)")
    if ignore_k_scope not in ("tensor", "global"):
        raise ValueError(f"ignore_k_scope={ignore_k_scope!r}; allowed: tensor, global")
    model.to(device).train()
    torch.manual_seed(cfg.seed)  # only dropout would use it; data order has its own generators
    optimizer = make_optimizer(model, cfg)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    history = History()
    start = 0
    if checkpoint_dir is not None and (ckpt := latest_checkpoint(checkpoint_dir)) is not None:
        start, history = load_checkpoint(ckpt, model, optimizer)
    pending: list[tuple[int, torch.Tensor, float, torch.Tensor, float]] = []  # floats made every log_every

    def flush() -> None:
        for step, loss, lr, gnorm, tps in pending:
            history.step.append(step)
            history.loss.append(float(loss))
            history.lr.append(lr)
            history.grad_norm.append(float(gnorm))
            history.tokens_per_s.append(tps)
        pending.clear()

    bar = progress.bar(cfg.steps, desc, start)
    try:
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr

            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                loss, n_tokens = step_loss(step, device, history)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
            else:
                gnorm = torch.zeros(())
            if ignore_k > 0:
                before = [p.detach().clone() for p in params]  # snapshot, to measure this step's update
                optimizer.step()
                prune_updates(params, before, ignore_k, ignore_k_scope)
            else:
                optimizer.step()

            pending.append((step, loss.detach(), lr, gnorm.detach(), n_tokens / (time.perf_counter() - t0)))
            last = step == cfg.steps - 1
            if (step + 1) % cfg.log_every == 0 or last:
                flush()
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", lr=f"{lr:.2e}", refresh=False)
            bar.update(1)
            if checkpoint_dir is not None and checkpoint_every and ((step + 1) % checkpoint_every == 0 or last):
                flush()
                save_checkpoint(checkpoint_dir, model, optimizer, step + 1, history)
            if on_step is not None:
                flush()
                on_step(step, model, history)
    finally:
        bar.close()
    flush()
    model.eval()
    return history


def _forward(model, cfg: TrainConfig):
    """The callable that runs the model in the loop: the model itself, or its compiled version."""
    return torch.compile(model) if cfg.compile else model


def _shift(y: torch.Tensor) -> torch.Tensor:
    """Targets of each position: the next label, IGNORE after the last one."""
    return torch.cat([y[:, 1:], y.new_full((y.shape[0], 1), IGNORE)], dim=1)


def next_token_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions (labels ``y`` aligned with inputs ``x``).

    The labels are shifted, not the logits: slicing ``logits[:, :-1]`` would copy the largest activation of
    the step and make its backward fill a zero tensor of the same size (about 10% of a micro-model step).
    """
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.flatten(0, 1).float(), _shift(y).flatten(), ignore_index=IGNORE)


def pretrain(
    model: torch.nn.Module,
    blocks: torch.Tensor,
    cfg: TrainConfig,
    insertions: Insertion | Iterable[Insertion] | None = None,
    ignore_k: float = 0.0,
    ignore_k_scope: str = "tensor",
    on_step: Callable | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    pad_id: int | None = None,
) -> History:
    """Next-token pre-training on packed ``blocks`` ([n_blocks, seq_len], from ``pack``).

    Each step draws ``batch_size`` blocks at random (with replacement, generator seeded by ``(seed, step)``).
    At a step listed by an ``Insertion``, one row of that minibatch is replaced by the insertion's text,
    right-padded to ``seq_len`` with its padding masked from the loss; several insertions active at the same
    step take rows 0, 1, ... . ``ignore_k`` (a fraction, e.g. 0.08 = top 8%) prunes each step's largest
    updates, see ``prune_updates``. With ``checkpoint_dir``, the run resumes from the latest complete
    checkpoint there and ends bit-identical to an uninterrupted run.
    """
    if blocks.dim() != 2 or blocks.shape[1] < cfg.seq_len:
        raise ValueError(f"blocks of shape {tuple(blocks.shape)}; allowed: [n_blocks, >= seq_len={cfg.seq_len}]")
    if isinstance(insertions, Insertion):
        insertions = [insertions]
    insertions = list(insertions or [])
    if pad_id is None:
        pad_id = getattr(model.config, "pad_token_id", None) or 0
    by_step: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for ins in insertions:
        row = _row(ins.ids, cfg.seq_len, pad_id)
        for s in ins.steps:
            by_step.setdefault(s, []).append(row)
    if any(len(rows) > cfg.batch_size for rows in by_step.values()):
        raise ValueError(f"more insertions at one step than batch_size={cfg.batch_size}")
    blocks = blocks[:, : cfg.seq_len]
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(blocks), (cfg.batch_size,), generator=_step_generator(cfg.seed, step))
        x = blocks[idx]
        y = x
        if step in by_step:
            y = x.clone()
            for row, (ins_x, ins_y) in enumerate(by_step[step]):
                x[row], y[row] = ins_x, ins_y
                history.inserted.append((step, row))
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return next_token_loss(forward, x, y), x.numel()

    return _run(
        model, cfg, step_loss, desc="pretrain", ignore_k=ignore_k, ignore_k_scope=ignore_k_scope,
        on_step=on_step, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
    )
