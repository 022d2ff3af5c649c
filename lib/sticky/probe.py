"""Batched measurements on a causal LM: next-token probabilities and sequence NLL.

Every batched function left-pads its prompts (with an attention mask and position ids counted from each
prompt's first real token), so every prompt ends at the last position and the model computes logits for the
positions it needs only (``logits_to_keep``): the real models have 262k-word vocabularies. Prompts are
sorted by length before batching, so a batch wastes little on padding; results come back in input order.
Prompts are tokenized with the tokenizer's special tokens (e.g. Gemma's ``<bos>``); targets and completions
without, so their tokens are the ones they have on their own.

Generation is ``sticky.decoding``'s; hooks on a model's modules (heads, the logit lens, restored units) are
``sticky.hooks``'s. Both batch with the helpers below.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from sticky import progress

# ---------------------------------------------------------------------------------------------------------
# batching


def pad_id(tokenizer) -> int:
    for t in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if t is not None:
            return t
    return 0


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Left-padded input_ids, attention_mask and position_ids (0 at each row's first real token)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r) == 0:
            raise ValueError("an empty prompt has no next-token distribution; allowed: at least one token")
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "position_ids": pos.to(device)}


def length_batches(lengths: Sequence[int], batch_size: int, desc: str = "probe") -> Iterator[list[int]]:
    """Indices grouped into batches of similar length (sorted), for little padding; work on them that runs for
    more than a few seconds shows its batches on the terminal as ``desc`` (``progress.bar``)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    starts = range(0, len(order), batch_size)
    with progress.bar(len(starts), desc) as bar:
        for start in starts:
            yield order[start : start + batch_size]
            bar.update(1)


def encode(tokenizer, texts: Sequence[str], special: bool) -> list[list[int]]:
    if not texts:  # a fast tokenizer fails on an empty batch; an empty split (a smoke run's) is no batch at all
        return []
    return tokenizer(list(texts), add_special_tokens=special)["input_ids"]


def _target_ids(tokenizer, targets: Sequence[str] | Sequence[int]) -> list[int]:
    out = []
    for t in targets:
        if isinstance(t, (int, np.integer)):
            out.append(int(t))
            continue
        ids = tokenizer(t, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"target {t!r} is {len(ids)} tokens {ids}; allowed: a single-token string or a token id")
        out.append(ids[0])
    return out


@torch.no_grad()
def last_logprobs(model, tokenizer, prefixes: Sequence[str],
                  batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yields (indices, log-softmax of the next-token logits [len(indices), vocab]) batch by batch."""
    model.eval()
    rows = encode(tokenizer, prefixes, special=True)
    pad, device = pad_id(tokenizer), model_device(model)
    for idx in length_batches([len(r) for r in rows], batch_size):
        batch = left_pad([rows[i] for i in idx], pad, device)
        logits = model(**batch, logits_to_keep=1, use_cache=False).logits[:, -1].float()
        yield idx, torch.log_softmax(logits, dim=-1)


# ---------------------------------------------------------------------------------------------------------
# probabilities and likelihoods


def next_token_probs(
    model, tokenizer, prefixes: Sequence[str], targets: Sequence[str] | Sequence[int], batch_size: int = 64
) -> np.ndarray:
    """P(target_i | prefix_i) for each i: the probability of the next token after the prefix, shape [n]."""
    if len(prefixes) != len(targets):
        raise ValueError(f"{len(prefixes)} prefixes but {len(targets)} targets; allowed: one target per prefix")
    target = torch.tensor(_target_ids(tokenizer, targets))
    out = np.empty(len(prefixes), dtype=np.float64)
    for idx, logp in last_logprobs(model, tokenizer, prefixes, batch_size):
        out[idx] = logp.gather(-1, target[idx].to(logp.device).unsqueeze(-1)).squeeze(-1).exp().cpu().numpy()
    return out


def probs_matrix(
    model, tokenizer, prefixes: Sequence[str], target_ids: Sequence[str] | Sequence[int], batch_size: int = 64
) -> np.ndarray:
    """P(target_j | prefix_i) for every prefix and every target: shape [n_prefixes, n_targets]."""
    target = torch.tensor(_target_ids(tokenizer, target_ids))
    out = np.empty((len(prefixes), len(target)), dtype=np.float64)
    for idx, logp in last_logprobs(model, tokenizer, prefixes, batch_size):
        out[idx] = logp[:, target.to(logp.device)].exp().cpu().numpy()
    return out


@torch.no_grad()
def sequence_nll(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions: Sequence[str],
    batch_size: int = 32,
    per_token: bool = False,
) -> np.ndarray:
    """-log P(completion | prompt), summed over the completion's tokens (``per_token``: their mean), shape [n].

    Prompt and completion are tokenized separately and concatenated. With left padding every completion
    ends at the last position, so logits are computed for the last ``max completion length + 1`` positions.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions; allowed: one each")
    model.eval()
    heads = encode(tokenizer, prompts, special=True)
    tails = encode(tokenizer, completions, special=False)
    if any(len(t) == 0 for t in tails):
        raise ValueError("an empty completion; allowed: at least one token")
    pad, device = pad_id(tokenizer), model_device(model)
    out = np.empty(len(prompts), dtype=np.float64)
    for idx in length_batches([len(heads[i]) + len(tails[i]) for i in range(len(heads))], batch_size):
        batch = left_pad([heads[i] + tails[i] for i in idx], pad, device)
        n = max(len(tails[i]) for i in idx)
        logits = model(**batch, logits_to_keep=n + 1, use_cache=False).logits[:, :-1].float()  # predict the last n
        logp = torch.log_softmax(logits, dim=-1).gather(-1, batch["input_ids"][:, -n:].unsqueeze(-1)).squeeze(-1)
        lens = torch.tensor([len(tails[i]) for i in idx], device=device)
        mask = torch.arange(n, device=device).unsqueeze(0) >= (n - lens).unsqueeze(1)  # completion positions
        nll = -(logp * mask).sum(-1)
        out[idx] = (nll / lens if per_token else nll).double().cpu().numpy()
    return out
