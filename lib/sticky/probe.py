"""Batched measurements on a causal LM: next-token probabilities, sequence NLL, greedy generation, head hooks.

Every batched function left-pads its prompts (with an attention mask and position ids counted from each
prompt's first real token), so every prompt ends at the last position and the model computes logits for the
positions it needs only (``logits_to_keep``): the real models have 262k-word vocabularies. Prompts are
sorted by length before batching, so a batch wastes little on padding; results come back in input order.
Prompts are tokenized with the tokenizer's special tokens (e.g. Gemma's ``<bos>``); targets and completions
without, so their tokens are the ones they have on their own.

``restored`` puts named parameters of one model back from another. Head hooks are named like TransformerLens:
``blocks.{L}.attn.head.{H}`` is head H of layer L, acting on that head's output before the attention output
projection (``self_attn.o_proj``).
"""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

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


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length (sorted), for little padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


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


# ---------------------------------------------------------------------------------------------------------
# generation


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 32,
    stop_at_eos: bool = True,
) -> list[str]:
    """Greedy continuations (new text only), batched with left padding and the KV cache."""
    model.eval()
    rows = encode(tokenizer, prompts, special=True)
    pad, device, eos = pad_id(tokenizer), model_device(model), tokenizer.eos_token_id
    out: list[str] = [""] * len(prompts)
    for idx in length_batches([len(r) for r in rows], batch_size):
        batch = left_pad([rows[i] for i in idx], pad, device)
        mask, pos = batch["attention_mask"], batch["position_ids"][:, -1:]
        result = model(**batch, use_cache=True, logits_to_keep=1)
        new = []
        done = torch.zeros(len(idx), dtype=torch.bool, device=device)
        for t in range(max_new_tokens):
            token = result.logits[:, -1].argmax(-1)
            new.append(token)
            if stop_at_eos and eos is not None:
                done |= token == eos
                if bool(done.all()):
                    break
            if t == max_new_tokens - 1:
                break
            mask = torch.cat([mask, mask.new_ones((len(idx), 1))], dim=1)
            pos = pos + 1
            result = model(
                input_ids=token.unsqueeze(1), attention_mask=mask, position_ids=pos,
                cache=result.cache, use_cache=True, logits_to_keep=1,
            )
        tokens = torch.stack(new, dim=1).tolist() if new else [[] for _ in idx]
        for i, seq in zip(idx, tokens):
            if stop_at_eos and eos is not None and eos in seq:
                seq = seq[: seq.index(eos)]
            out[i] = tokenizer.decode(seq, skip_special_tokens=True)
    return out


# ---------------------------------------------------------------------------------------------------------
# attention heads, TransformerLens names

_HEAD = re.compile(r"^blocks\.(\d+)\.attn\.head\.(\d+)$")


def decoder_layers(model) -> torch.nn.ModuleList:
    """The list of decoder blocks (Llama, Gemma3, Qwen, ... all call it ``layers``)."""
    for name, module in model.named_modules():
        if name.endswith("layers") and isinstance(module, torch.nn.ModuleList):
            return module
    raise ValueError(f"no decoder `layers` in {type(model).__name__}; allowed: Llama-like models")


def restored(model, donor, names: Callable[[str], bool]):
    """A copy of ``model`` whose parameters with a name for which ``names(name)`` is true are ``donor``'s (same
    architecture): the causal test of where a difference between two models lives. A tied output layer is the
    embedding's parameter, restored with it."""
    patched = copy.deepcopy(model)
    donor_state = donor.state_dict()
    with torch.no_grad():
        for name, p in patched.named_parameters():
            if names(name):
                p.copy_(donor_state[name])
    return patched


def _heads(attn) -> tuple[int, int]:
    head_dim = attn.head_dim
    return attn.o_proj.in_features // head_dim, head_dim


def parse_head(name: str) -> tuple[int, int]:
    """``"blocks.3.attn.head.1"`` -> (3, 1)."""
    m = _HEAD.match(name)
    if not m:
        raise ValueError(f"head name {name!r}; allowed: 'blocks.{{L}}.attn.head.{{H}}'")
    return int(m.group(1)), int(m.group(2))


@contextmanager
def scale_heads(model, scales: Mapping[str, float]):
    """Within the block, multiply each named head's output (its slice of ``o_proj``'s input) by its scale."""
    layers = decoder_layers(model)
    per_layer: dict[int, dict[int, float]] = {}
    for name, s in scales.items():
        layer, head = parse_head(name)
        if layer >= len(layers):
            raise ValueError(f"{name}: layer {layer}; allowed: 0..{len(layers) - 1}")
        n_heads, _ = _heads(layers[layer].self_attn)
        if head >= n_heads:
            raise ValueError(f"{name}: head {head}; allowed: 0..{n_heads - 1}")
        per_layer.setdefault(layer, {})[head] = float(s)
    handles = []
    for layer, heads in per_layer.items():
        attn = layers[layer].self_attn
        n_heads, head_dim = _heads(attn)
        factor = torch.ones(n_heads)
        for h, s in heads.items():
            factor[h] = s
        factor = factor.repeat_interleave(head_dim)

        def hook(module, args, factor=factor):
            (x, *rest) = args
            return (x * factor.to(x.device, x.dtype), *rest)

        handles.append(attn.o_proj.register_forward_pre_hook(hook))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def head_contributions(model, tokenizer, prompts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """Each head's write into the residual stream at the last position: [n_prompts, layers, heads, d_model].

    Head H of layer L writes ``z_H @ W_O[:, H].T`` where ``z_H`` is its slice of ``o_proj``'s input; the sum
    over heads (plus the o_proj bias, if any) is the attention output. Dot it with an unembedding direction
    for direct logit attribution (mind the final norm).
    """
    model.eval()
    layers = decoder_layers(model)
    captured: dict[int, torch.Tensor] = {}

    def capture(layer):
        def hook(module, args):
            captured[layer] = args[0][:, -1]  # left padding: the last position is every prompt's last token

        return hook

    handles = [layer.self_attn.o_proj.register_forward_pre_hook(capture(i)) for i, layer in enumerate(layers)]
    rows = encode(tokenizer, prompts, special=True)
    pad, device = pad_id(tokenizer), model_device(model)
    n_heads, head_dim = _heads(layers[0].self_attn)
    d_model = layers[0].self_attn.o_proj.out_features
    out = torch.empty(len(prompts), len(layers), n_heads, d_model)
    try:
        for idx in length_batches([len(r) for r in rows], batch_size):
            model(**left_pad([rows[i] for i in idx], pad, device), logits_to_keep=1, use_cache=False)
            for layer_i, layer in enumerate(layers):
                z = captured[layer_i].view(len(idx), n_heads, head_dim)  # [B, H, hd]
                w = layer.self_attn.o_proj.weight.view(d_model, n_heads, head_dim)  # [d, H, hd]
                out[idx, layer_i] = torch.einsum("bhk,dhk->bhd", z.float(), w.float()).cpu()
    finally:
        for h in handles:
            h.remove()
    return out
