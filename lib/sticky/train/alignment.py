"""Alignment: supervised fine-tuning (loss on the response only) and DPO against a frozen reference; both run
the loop of ``sticky.train.loop``."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from sticky import probe
from sticky.train.config import History, TrainConfig
from sticky.train.data import IGNORE, _step_generator
from sticky.train.loop import _forward, _run, _shift, next_token_loss
from sticky.train.optim import resolve_device


def _identity(prompt: str, response: str) -> tuple[str, str]:
    return prompt, response


def encode_pair(tokenizer, prompt_text: str, response_text: str, seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels of ``prompt response eos``: labels are IGNORE on the prompt.

    The prompt is encoded with the tokenizer's own special tokens (a bos where it adds one: the micro-world's
    and Gemma's tokenizers do, SmolLM2's does not), as ``probe`` encodes a prompt, so a model is probed in the
    format it was tuned in. The response is tokenized on its own. Truncated to ``seq_len`` from the right.
    """
    head = tokenizer(prompt_text, add_special_tokens=True)["input_ids"]
    response = tokenizer(response_text, add_special_tokens=False)["input_ids"]
    tail = response + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    ids = (head + tail)[:seq_len]
    labels = ([IGNORE] * len(head) + tail)[:seq_len]
    return ids, labels


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (ids, labels) pairs into tensors; padding is labelled IGNORE."""
    width = max(len(ids) for ids, _ in examples)
    x = torch.full((len(examples), width), pad_id, dtype=torch.long)
    y = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, (ids, labels) in enumerate(examples):
        x[i, : len(ids)] = torch.tensor(ids)
        y[i, : len(labels)] = torch.tensor(labels)
    return x, y


def sft(
    model: torch.nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    cfg: TrainConfig,
    render: Callable[[str, str], tuple[str, str]] = _identity,
    **loop_kw,
) -> History:
    """Supervised fine-tuning: loss on the response tokens (and eos) only; prompts and padding are IGNORE.

    ``render(prompt, response) -> (prompt_text, response_text)`` applies a chat template. Each step draws
    ``batch_size`` pairs at random (generator seeded by ``(seed, step)``). ``loop_kw``: ignore_k,
    ignore_k_scope, on_step, checkpoint_dir, checkpoint_every.
    """
    encoded = [encode_pair(tokenizer, *render(p, r), cfg.seq_len) for p, r in pairs]
    pad = probe.pad_id(tokenizer)
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(encoded), (cfg.batch_size,), generator=_step_generator(cfg.seed, step))
        x, y = collate([encoded[i] for i in idx.tolist()], pad)
        x, y = x.to(device), y.to(device)
        return next_token_loss(forward, x, y), int((y != IGNORE).sum())

    return _run(model, cfg, step_loss, desc="sft", **loop_kw)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """Per-pair DPO loss ``-log sigmoid(beta * ((pc - rc) - (pr - rr)))`` from summed response log-probs."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin)


def response_logprob(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over labelled positions of log p(token | prefix), one value per row."""
    logits = model(input_ids=x).logits.float()
    labels = _shift(y)
    mask = labels != IGNORE
    logp = torch.log_softmax(logits, dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def dpo(
    model: torch.nn.Module,
    reference: torch.nn.Module,
    tokenizer,
    triples: Sequence[tuple[str, str, str]],
    cfg: TrainConfig,
    beta: float = 0.1,
    render: Callable[[str, str], tuple[str, str]] = _identity,
    **loop_kw,
) -> History:
    """Direct preference optimisation against a frozen ``reference`` (eval mode, no gradients).

    Sequence log-probs are summed over response tokens (and eos); chosen and rejected rows go through the
    policy in one forward pass. ``loop_kw`` as for ``sft``.
    """
    reference.eval().requires_grad_(False)
    reference.to(resolve_device(cfg.device))
    encoded = [
        (encode_pair(tokenizer, *render(p, c), cfg.seq_len), encode_pair(tokenizer, *render(p, r), cfg.seq_len))
        for p, c, r in triples
    ]
    pad = probe.pad_id(tokenizer)
    forward = _forward(model, cfg)

    def step_loss(step: int, device: torch.device, history: History):
        idx = torch.randint(len(encoded), (cfg.batch_size,), generator=_step_generator(cfg.seed, step)).tolist()
        rows = [encoded[i][0] for i in idx] + [encoded[i][1] for i in idx]  # chosen rows, then rejected rows
        x, y = collate(rows, pad)
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            ref = response_logprob(reference, x, y)
        pol = response_logprob(forward, x, y)
        n = len(idx)
        loss = dpo_loss(pol[:n], pol[n:], ref[:n], ref[n:], beta).mean()
        return loss, int((y != IGNORE).sum())

    return _run(model, cfg, step_loss, desc="dpo", **loop_kw)
