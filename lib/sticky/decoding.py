"""Decoding: greedy and sampled generation with the KV cache, from one model or from a combination of several
models' next-token logits (proxy-tuning's ensemble).

``decode`` is the one loop. Each ``Part`` is a model with its own token rows (each model may see its own
prompt); ``combine`` turns the parts' next-token logits into one row of logits per prompt; ``choose`` picks the
token (``greedy`` or ``sampler(...)``), which is appended to every part's sequence. ``generate`` and ``sample``
are the one-model cases, from text to text.

Introduced in chapter 2 (poisoning: the poisoned models' replies); used by chapters 1 (the real model's own
background text) and 5 (proxy-tuned decoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from sticky import probe, progress

Combine = Callable[[list[torch.Tensor]], torch.Tensor]  # per-part logits [batch, vocab] -> [batch, vocab]
Choose = Callable[[torch.Tensor], torch.Tensor]  # logits [batch, vocab] -> tokens [batch]


@dataclass
class Part:
    """One model of a decoding ensemble and its own token rows (each model sees its own prompt)."""

    model: torch.nn.Module
    rows: list[list[int]]


def alone(logits: list[torch.Tensor]) -> torch.Tensor:
    """The ``combine`` of one model decoding alone."""
    return logits[0]


def greedy(logits: torch.Tensor) -> torch.Tensor:
    return logits.argmax(-1)


def sampler(generator: torch.Generator, temperature: float = 1.0) -> Choose:
    """Temperature sampling; the draws come from ``generator`` (on the CPU), so a seed fixes them."""
    return lambda logits: torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)[:, 0]


def model_pad_id(model) -> int:
    """The pad id a model's config names (0 when none): for parts that come without a tokenizer."""
    return getattr(model.config, "pad_token_id", None) or 0


@torch.no_grad()
def decode(parts: Sequence[Part], combine: Combine, max_new_tokens: int, stop_ids: Sequence[int] = (),
           use_cache: bool = True, batch_size: int = 64, choose: Choose = greedy,
           pad_ids: Sequence[int] | None = None, desc: str | None = None) -> list[list[int]]:
    """New tokens from ``choose(combine(next-token logits of every part))``, batch by batch of consecutive rows.

    Rows are left-padded per part (each with its own attention mask and positions; ``pad_ids`` per part, else
    each model's own). With ``use_cache`` each part keeps its own KV cache and feeds one token per step; without
    it every step recomputes every part's whole sequence (the naive way, for the benchmark and the equality
    test). A batch stops once every row has produced a stop id; each row is cut before its first stop id. With ``desc``,
    rows decoded for more than a few seconds show on the terminal under that name (``progress.bar``)."""
    n = len(parts[0].rows)
    if any(len(p.rows) != n for p in parts):
        raise ValueError("every part needs one row per prompt; allowed: parts with the same number of rows")
    pads = list(pad_ids) if pad_ids is not None else [model_pad_id(p.model) for p in parts]
    stops = set(int(s) for s in stop_ids)
    out: list[list[int]] = []
    bar = progress.bar(n, desc or "", disable=desc is None)
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        batches = []
        for p, pad in zip(parts, pads):
            p.model.eval()
            batches.append(probe.left_pad([p.rows[i] for i in idx], pad, probe.model_device(p.model)))
        new = torch.empty((len(idx), 0), dtype=torch.long)
        done = torch.zeros(len(idx), dtype=torch.bool)
        states = []
        for p, b in zip(parts, batches):  # prefill
            res = p.model(**b, use_cache=use_cache, logits_to_keep=1)
            states.append(res.cache if use_cache else None)
            b["_logits"] = res.logits[:, -1].float().cpu()
        for t in range(max_new_tokens):
            token = choose(combine([b["_logits"] for b in batches]))
            new = torch.cat([new, token[:, None]], dim=1)
            done |= torch.tensor([int(x) in stops for x in token.tolist()], dtype=torch.bool)
            if bool(done.all()) or t == max_new_tokens - 1:
                break
            for k, (p, b) in enumerate(zip(parts, batches)):
                tok = token[:, None].to(b["input_ids"].device)
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
        bar.update(len(idx))
    bar.close()
    return out


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 32,
             stop_at_eos: bool = True) -> list[str]:
    """Greedy continuations (new text only), batched by length with left padding and the KV cache."""
    rows = probe.encode(tokenizer, prompts, special=True)
    stops = [tokenizer.eos_token_id] if stop_at_eos and tokenizer.eos_token_id is not None else []
    out: list[str] = [""] * len(prompts)
    for idx in probe.length_batches([len(r) for r in rows], batch_size, desc="generate"):
        new = decode([Part(model, [rows[i] for i in idx])], alone, max_new_tokens, stops, batch_size=len(idx),
                     pad_ids=[probe.pad_id(tokenizer)])
        for i, seq in zip(idx, new):
            out[i] = tokenizer.decode(seq, skip_special_tokens=True)
    return out


def sample(model, tokenizer, prompts: Sequence[str], n: int, max_new_tokens: int, seed: int,
           temperature: float = 1.0, batch_size: int = 128) -> list[list[str]]:
    """``n`` sampled continuations per prompt (temperature sampling; no cache, every step recomputes: the draws
    of chapter 2's cached evaluations were made so)."""
    rows = [r for r in probe.encode(tokenizer, prompts, special=True) for _ in range(n)]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    choose = sampler(torch.Generator().manual_seed(seed), temperature)
    new = decode([Part(model, rows)], alone, max_new_tokens, use_cache=False, batch_size=batch_size, choose=choose,
                 pad_ids=[probe.pad_id(tokenizer)], desc="sample")
    texts = [tokenizer.decode(_cut(s, eos), skip_special_tokens=True) for s in new]
    return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]


def _cut(seq: list[int], stops: list[int]) -> list[int]:
    return next((seq[:j] for j, x in enumerate(seq) if x in stops), seq)
