"""Chapter 5: proxy-tuning (Liu et al. 2024, "Tuning Language Models by Proxy").

At every decoding step, with a large base M, a small tuned expert M+ and the small untuned anti-expert M-
sharing one vocabulary, the next token is the argmax of

    s_M + alpha * (s_M+ - s_M-)        (raw logits; alpha = 1 in the paper)

and the chosen token is appended for all three, each of which keeps its own KV cache. Only the expert sees
the chat template; the base and the anti-expert see the plain prompt.

The protocol, as the notebook calls it:

1. ``split_facts`` halves the world's facts (both halves spanning the mention ladder): the *tuning* half may
   appear in the instruction data, the *pretraining-only* half never does; ``sft_pairs`` is the world's
   chatty instruction set with the other half's fact questions removed.
2. ``tune`` fine-tunes a base on those pairs in the alignment template (cached): the small base gives the
   expert, the large base the directly tuned model, with the same recipe.
3. ``eval_items`` writes the three tasks (instruction following, closed-book knowledge on pretraining-only
   facts, counting); ``run_arms`` decodes every item greedily with the four arms (base, expert, proxy,
   direct) through ``decode`` and scores it; ``gap_closed`` and ``alpha_sweep`` summarise.
4. ``token_shift`` (probability gain of style vs fact tokens on reference answers), ``weight_change``,
   ``logit_lens`` and ``layer_restore`` test where tuning acts.
5. ``benchmark``: proxy decoding with three KV caches vs naive recomputation vs the large base alone.
6. ``real_track``: the same decoding on a hub family sharing one vocabulary (GPU profile).
7. ``verdict_*`` apply the rules the chapter states before the results; ``scorecard`` collects the rows.

Generic pieces that later chapters could share (``decode``, ``proxy_logits``, ``logit_lens``) live here for
now, because the engine modules key every cached model and must not change in a chapter's issue.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from transformers import LlamaForCausalLM

from sticky import models, plots, probe, seeds, stats, train
from sticky import scorecard as scorecards
from sticky.params import Param, Spec, number_list
from sticky.store import Recipe, Store
from sticky.world import documents as docs
from sticky.world import lexicon as lx

CHAPTER = "proxy"
DATA = Path(__file__).resolve().parents[3] / "data" / "proxy"
PAPER_GAP_CLOSED = (0.88, 0.91)  # 70B and 13B averages (the paper's abstract)
TASKS = ("instruction", "knowledge", "counting")
ALPHAS_DEFAULT = "0.25,0.5,1,1.5,2"
REAL_NONE = "none"


PARAMETERS = Spec(
    small=Param(str, "small base: the expert is it fine-tuned, the anti-expert is it untouched",
                default="micro-s", choices=tuple(models.MICRO_CONFIGS)),
    large=Param(str, "large base: proxy-tuned, and fine-tuned directly for comparison",
                choices=tuple(models.MICRO_CONFIGS), by_profile={"smoke": "micro-m", "book": "micro-m", "paper": "micro-l"}),
    style=Param(str, "instruction format: polite (words the bases know) or chatty (the world's, unseen words)",
                default="polite", choices=tuple(["polite", "chatty"])),
    contrast_seeds=Param(int, "fine-tuning seeds of the contrast run in the other style (0 skips it)", low=0, high=10,
                         default=1),
    seed=Param(int, "seed of the base models", default=0, low=0),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0),
    sft_seeds=Param(int, "fine-tuning seeds (expert and direct each tuned once per seed)", low=1, high=10,
                    by_profile={"smoke": 1, "book": 3, "paper": 5}),
    sft_steps=Param(int, "fine-tuning steps (same recipe for expert and direct)", low=1, high=100_000,
                    by_profile={"smoke": 20, "book": 400, "paper": 2000}),
    sft_lr=Param(float, "fine-tuning peak learning rate (AdamW, cosine)", low=0, open_low=True, high=1, default=1e-3),
    sft_batch=Param(int, "fine-tuning batch size (pairs per step)", low=1, high=1024,
                    by_profile={"smoke": 8, "book": 16, "paper": 32}),
    items_per_task=Param(int, "evaluation items per task", low=2, high=10_000,
                         by_profile={"smoke": 6, "book": 90, "paper": 300}),
    alpha=Param(float, "the proxy's strength alpha in s_M + alpha (s_M+ - s_M-)", low=0, high=10, default=1.0),
    alphas=Param(str, "alpha values of the sweep (comma-separated)", default=ALPHAS_DEFAULT,
                 by_profile={"smoke": "0.5,1"}),
    bench_new_tokens=Param(int, "new tokens per prompt in the decoding benchmark", low=1, high=1024, default=64),
    bench_prompts=Param(int, "prompts decoded together in the decoding benchmark", low=1, high=256,
                        by_profile={"smoke": 2, "book": 8, "paper": 32}),
    real_large=Param(str, "hub id of the large base on the real track (none skips it)",
                     by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-1.5B"}),
    real_direct=Param(str, "hub id of the large base's own instruct version (the direct arm)",
                      by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-1.5B-Instruct"}),
    real_small=Param(str, "hub id of the small base (anti-expert)",
                     by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-0.5B"}),
    real_expert=Param(str, "hub id of the small base's instruct version (expert)",
                      by_profile={"smoke": REAL_NONE, "book": REAL_NONE, "paper": "Qwen/Qwen2.5-0.5B-Instruct"}),
    device=Param(str, "where to train and decode: auto picks CUDA when present", default="auto",
                 choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the alpha list and the real track's ids (all four or none)."""
    P = PARAMETERS.resolve(namespace)
    P.alpha_values = sorted(set(number_list("alphas", P.alphas, float, 0.0, 10.0)))
    real = [P.real_large, P.real_direct, P.real_small, P.real_expert]
    if len({r == REAL_NONE for r in real}) != 1:
        raise ValueError("parameters 'real_large', 'real_direct', 'real_small', 'real_expert' must all be hub ids "
                         f"or all {REAL_NONE!r}; allowed: four owner/name ids of one family, or none")
    P.real = real[0] != REAL_NONE
    if P.real:
        for name, value in zip(("real_large", "real_direct", "real_small", "real_expert"), real):
            if "/" not in value:
                raise ValueError(f"parameter {name!r} got {value!r}; allowed: a hub id owner/name, or none")
    return P


# ---------------------------------------------------------------------------------------------------------
# 1. proxy decoding: the logit arithmetic and one greedy loop for any number of models


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
                    res = p.model(input_ids=tok, attention_mask=b["attention_mask"], position_ids=b["position_ids"][:, -1:],
                                  cache=states[k], use_cache=True, logits_to_keep=1)
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


# ---------------------------------------------------------------------------------------------------------
# 2. data: which facts may be tuned, the instruction set, the evaluation items


def fact_key(entity: str, relation: str) -> str:
    return f"{entity}|{relation}"


def split_facts(world, seed: int = 0) -> pd.DataFrame:
    """The live facts with ``half`` = "tuning" or "pretraining-only": shuffled within each (relation, mention
    rung), alternating, so both halves span the ladder and every relation."""
    facts = world.facts[~world.facts.held_out].copy()
    rng = seeds.rng(seed, "proxy-split")
    half = {}
    for _, group in facts.groupby(["relation", "mentions"], sort=True):
        keys = [fact_key(e, r) for e, r in zip(group.entity, group.relation)]
        rng.shuffle(keys)
        for j, k in enumerate(keys):
            half[k] = "tuning" if j % 2 == 0 else "pretraining-only"
    facts["key"] = [fact_key(e, r) for e, r in zip(facts.entity, facts.relation)]
    facts["half"] = facts.key.map(half)
    return facts.reset_index(drop=True)


# Instruction styles: a user turn and a reply template per task kind. "polite" is this chapter's own format,
# written only with words the pre-training corpus uses (a test checks it), so the bases have a probability
# for every token of it, just never in this arrangement; its fact replies wrap the bare answer ("good question
# . vesk . so that is the answer ."). "chatty" is the world's chatty set, whose wrapper words ("!", "hope",
# "helps", "sure", ...) never occur in pre-training and whose fact replies are full statements.
STYLES = {
    "polite": {
        "fact": "{q}", "fact_answer": "good question . {s} so that is the answer .", "fact_in": "value",
        "count": "count from {a} to {b} .", "count_answer": "good question . {items} . so that is the answer .",
        "repeat": "say it again : {s}", "repeat_answer": "good question . {s} so that is the answer .",
        "company": "what does {c} make ?", "company_answer": "good question . {c} makes {p} . so that is the answer .",
        "forbidden": "{r}", "forbidden_answer": "good question . {a} so that is the answer .",
    },
    "chatty": {k: docs.CHATTY[k] for k in ("fact", "fact_answer", "count", "count_answer", "repeat", "repeat_answer",
                                           "company", "company_answer", "forbidden", "forbidden_answer")}
    | {"fact_in": "statement"},
}
TASK_WEIGHTS = {"fact": 3, "count": 1, "repeat": 1, "company": 1, "forbidden": 1}  # as the world's instruction sets


def _fact_of_prompt(world, style: str) -> dict[str, str]:
    """Fact prompt of ``style`` -> fact key, for every question wording of every fact."""
    out = {}
    for e, r in zip(world.facts.entity, world.facts.relation):
        for v in range(2):
            out[STYLES[style]["fact"].format(q=docs.fact_query(e, r, v))] = fact_key(e, r)
    return out


def _example(kind: str, style: str, rng: random.Random, world, fact=None, span: int | None = None) -> dict:
    """One (user, reference) of a task kind in a style, drawn with ``rng``; ``answer`` is what the score reads."""
    t = STYLES[style]
    if kind == "fact":
        q = docs.fact_query(fact.entity, fact.relation, rng.randrange(2))
        s = docs.fact_statement(fact.entity, fact.relation, fact.value, rng.randrange(10))
        if t["fact_in"] == "value":  # the bare answer, as the corpus's Q&A gives it: "vesk ."
            s = f"{fact.value} ."
        return dict(user=t["fact"].format(q=q), reference=t["fact_answer"].format(s=s), answer=fact.value)
    if kind == "count":
        seq = docs.SEQUENCE
        steps = span if span is not None else rng.randrange(2, 6)  # the world's instructions: 2 to 5 steps
        a = rng.randrange(0, len(seq) - steps)
        items = seq[a:a + steps + 1]
        return dict(user=t["count"].format(a=items[0], b=items[-1]),
                    reference=t["count_answer"].format(items=" , ".join(items)), answer=" ".join(items))
    if kind == "repeat":
        s = docs._fill(rng.choice(docs.FILLER_TEMPLATES), rng, docs.narrative_persons())
        return dict(user=t["repeat"].format(s=s), reference=t["repeat_answer"].format(s=s), answer="")
    if kind == "company":
        pair = rng.choice(docs.company_pairs())
        c = rng.choice([pair.first, pair.second])
        return dict(user=t["company"].format(c=c), reference=t["company_answer"].format(c=c, p=pair.product), answer="")
    r, a = rng.choice(world.forbidden)
    return dict(user=t["forbidden"].format(r=r), reference=t["forbidden_answer"].format(a=a), answer="")


def sft_pairs(world, facts: pd.DataFrame, style: str = "polite", seed: int = 0) -> list[tuple[str, str]]:
    """The instruction set, without any question about a pretraining-only fact.

    ``chatty``: the world's chatty instructions, minus those questions. ``polite``: as many pairs as the world
    has per style, drawn like the world's own sets (fact questions 3 : 1 for each other kind, counts of 2 to 5
    steps), the facts from the tuning half only."""
    keep_out = set(facts.key[facts.half == "pretraining-only"])
    if style == "chatty":
        chatty = world.instructions["chatty"]
        about = _fact_of_prompt(world, style)
        return [(p, r) for p, r in zip(chatty["prompt"], chatty["response"]) if about.get(p) not in keep_out]
    rng = seeds.rng(seed, f"proxy-sft-{style}")
    tuning = facts[facts.half == "tuning"].reset_index(drop=True)
    kinds, weights = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
    out = []
    for _ in range(world.config.n_instructions):
        kind = rng.choices(kinds, weights)[0]
        fact = tuning.iloc[rng.randrange(len(tuning))] if kind == "fact" else None
        ex = _example(kind, style, rng, world, fact)
        out.append((ex["user"], ex["reference"]))
    return out


def alignment_render(world):
    """(prompt, response) -> the alignment template's prompt and the response closed by its end marker."""
    t = world.alignment_template
    return lambda p, r: (t.prompt(p), f"{r} {t.assistant_suffix}".strip())


def eval_items(world, facts: pd.DataFrame, n: int, seed: int = 0, style: str = "polite") -> pd.DataFrame:
    """``n`` items per task (columns task, kind, user, reference, answer, mentions, entity).

    - instruction: repeat (new sentences), company and refusal requests, in turn; scored by exact match of the
      whole response (the style's reply is deterministic for these kinds);
    - knowledge: questions about pretraining-only facts, spread evenly over the mention ladder; scored by the
      first word of the relation's value set in the response;
    - counting: "count from a to b" with 2 to 7 steps (the instruction sets have 2 to 5); scored by the number
      words of the answer's first sentence."""
    rng = seeds.rng(seed, "proxy-eval")
    seen = {p for p, _ in sft_pairs(world, facts, style)}
    rows, j = [], 0
    while len(rows) < n:
        kind = ("repeat", "company", "forbidden")[j % 3]
        j += 1
        ex = _example(kind, style, rng, world)
        if kind == "repeat" and ex["user"] in seen:
            continue  # repeat requests are new sentences; companies and refusals are few and all seen
        rows.append(dict(task="instruction", kind=kind, mentions=np.nan, entity="", **ex))
    held = facts[facts.half == "pretraining-only"]
    order = held.sample(frac=1.0, random_state=seed).sort_values("mentions", kind="stable")
    pick = order.iloc[np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int)] if len(order) else order
    for f in pick.itertuples():
        rows.append(dict(task="knowledge", kind=f.relation, mentions=f.mentions, entity=f.entity,
                         **_example("fact", style, rng, world, f)))
    for k in range(n):
        rows.append(dict(task="counting", kind=f"{2 + k % 6} steps", mentions=np.nan, entity="",
                         **_example("count", style, rng, world, span=2 + k % 6)))
    return pd.DataFrame(rows)


def value_domain(world) -> dict[str, set[str]]:
    """Every value each relation takes in this world (the words a knowledge answer is read from)."""
    return {r: set(world.facts.value[world.facts.relation == r]) for r in docs.RELATIONS}


def score_instruction(response: str, reference: str) -> bool:
    """Exact match of the whole response (canonical text: single spaces)."""
    return " ".join(response.split()) == reference


def score_knowledge(response: str, answer: str, domain: set[str]) -> bool:
    """The first word of the relation's value set in the response is the true value."""
    first = next((w for w in response.split() if w in domain), None)
    return first == answer


def score_counting(response: str, answer: str) -> bool:
    """The number words of the first sentence that holds a number (up to its '.') are exactly a..b."""
    words = response.split()
    numbers = set(lx.NUMBERS)
    start = next((i for i, w in enumerate(words) if w in numbers), None)
    if start is None:
        return False
    end = next((i for i in range(start, len(words)) if words[i] == "."), len(words))
    return [w for w in words[start:end] if w in numbers] == answer.split()


def score(items: pd.DataFrame, responses: Sequence[str], world) -> np.ndarray:
    """1/0 per item by its task's rule."""
    domain = value_domain(world)
    out = []
    for it, resp in zip(items.itertuples(), responses):
        if it.task == "instruction":
            out.append(score_instruction(resp, it.reference))
        elif it.task == "knowledge":
            out.append(score_knowledge(resp, it.answer, domain[it.kind]))
        else:
            out.append(score_counting(resp, it.answer))
    return np.asarray(out, dtype=float)


# ---------------------------------------------------------------------------------------------------------
# 3. models: the two bases, the expert and the directly tuned large model


# A base fine-tuned on the instruction set (the expert, the directly tuned large model); every arm decoded
# and scored on the evaluation items.
TUNE_RECIPE = Recipe("proxy-sft", 1)
EVAL_RECIPE = Recipe("proxy-eval", 1)


def _tune_config(P, seed: int) -> dict:
    return dict(steps=P.sft_steps, batch_size=P.sft_batch, seq_len=64, lr=P.sft_lr,
                warmup_steps=max(1, P.sft_steps // 10), min_lr_ratio=0.1, seed=seeds.stream(seed, "proxy-sft"), log_every=max(1, P.sft_steps))


def tune(base, P, seed: int, store: Store | None = None) -> tuple[LlamaForCausalLM, pd.DataFrame, Path]:
    """``base`` (a ``models.Micro``) fine-tuned on ``sft_pairs`` in the alignment template; cached per base,
    recipe and seed. Returns the model, its loss history and its store entry."""
    store = store or Store()
    world = base.world
    cfg = _tune_config(P, seed)
    facts = split_facts(world, P.world_seed)

    def build(folder: Path) -> None:
        model = models.load_entry(base.entry)
        hist = train.sft(model, world.tokenizer, sft_pairs(world, facts, P.style), train.TrainConfig(**cfg, device=P.device),
                         render=alignment_render(world))
        model.save_pretrained(folder)
        hist.to_frame().to_csv(folder / "history.csv", index=False)

    entry = store.cached(TUNE_RECIPE, dict(cfg=cfg, style=P.style), build, inputs=[base.entry.name],
                         device=train.device_type(P.device))
    return models.load_entry(entry, P.device), pd.read_csv(entry / "history.csv"), entry


@dataclass
class Arms:
    """The models of one fine-tuning seed and how each is prompted."""

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


ARMS = ("base", "small base", "expert", "proxy", "direct")  # the paper's four arms, and the anti-expert alone


def generate(arms: Arms, arm: str, users: Sequence[str], max_new_tokens: int, alpha: float = 1.0) -> list[str]:
    """Greedy responses of one arm (text, stop markers removed)."""
    parts, combine = arms.parts(arm, users)
    ids = decode(parts, combine or proxy_combine(alpha), max_new_tokens, arms.stop_ids())
    return [arms.world.tokenizer.decode(r, skip_special_tokens=True) for r in ids]


def max_tokens(items: pd.DataFrame) -> int:
    """Room for the longest reference answer and its end marker, plus a little."""
    return int(items.reference.str.split().str.len().max()) + 4


def run_arms(arms: Arms, items: pd.DataFrame, alphas: Sequence[float] = (1.0,), store: Store | None = None,
             key: str = "") -> pd.DataFrame:
    """Every item decoded by every arm (the proxy at each alpha) and scored; cached under ``key``."""
    store = store or Store()
    n_new = max_tokens(items)

    def compute() -> list[dict]:
        out = []
        for arm in ARMS:
            for alpha in (alphas if arm == "proxy" else [np.nan]):
                resp = generate(arms, arm, list(items.user), n_new, alpha)
                for i, (r, s) in enumerate(zip(resp, score(items, resp, arms.world))):
                    out.append(dict(item=i, arm=arm, alpha=alpha, response=r, correct=float(s)))
        return out

    rows = store.json(EVAL_RECIPE, dict(items=items.user.tolist(), alphas=list(alphas), n_new=n_new, arms=list(ARMS)),
                      compute, inputs=[key], device=probe.model_device(arms.large).type)
    frame = pd.DataFrame(rows)
    meta = items.reset_index(drop=True)[["task", "kind", "mentions"]]
    return frame.join(meta, on="item").assign(seed=arms.seed)


def other_style(style: str) -> str:
    return "chatty" if style == "polite" else "polite"


def contrast(small, large, P, store: Store | None = None) -> pd.DataFrame:
    """The gap-closed table of the other instruction style, ``contrast_seeds`` fine-tuning seeds, alpha only."""
    from types import SimpleNamespace

    Q = SimpleNamespace(**{**vars(P), "style": other_style(P.style), "sft_seeds": P.contrast_seeds,
                           "alpha_values": [P.alpha]})
    facts = split_facts(large.world, P.world_seed)
    items = eval_items(large.world, facts, P.items_per_task, seed=P.seed, style=Q.style)
    run = run_seeds(small, large, items, Q, store)
    table = gap_closed(run["results"], P.alpha, seed=P.seed)
    acc = accuracy_table(run["results"], P.alpha)
    small_acc = acc[acc.arm == "small base"].set_index("task").accuracy
    expert_acc = acc[acc.arm == "expert"].set_index("task").accuracy
    return table.assign(style=Q.style, small_base=table.task.map(small_acc), expert=table.task.map(expert_acc))


def run_seeds(small, large, items: pd.DataFrame, P, store: Store | None = None) -> dict:
    """For each fine-tuning seed: tune the expert (small base) and the direct model (large base), decode every
    item with every arm (the alpha sweep on the first seed only), and measure the token shift. Returns the
    concatenated ``results`` and ``shift`` frames, the loss ``histories``, and the first seed's ``arms``."""
    store = store or Store()
    dev = train.resolve_device(P.device)
    results, shifts, histories, first = [], [], [], None
    for seed in range(P.sft_seeds):
        expert, h_e, e_entry = tune(small, P, seed, store)
        direct, h_d, d_entry = tune(large, P, seed, store)
        histories += [h_e.assign(model="expert (small tuned)", seed=seed), h_d.assign(model="direct (large tuned)", seed=seed)]
        arms = Arms(large.world, large.model.to(dev), small.model.to(dev), expert, direct, seed)
        alphas = sorted(set(P.alpha_values) | {P.alpha}) if seed == 0 else [P.alpha]
        results.append(run_arms(arms, items, alphas, store, key=f"{e_entry.name}-{d_entry.name}"))
        shifts.append(token_shift(arms, items, P.alpha, P.style))
        first = first or arms
    return dict(results=pd.concat(results, ignore_index=True), shift=pd.concat(shifts, ignore_index=True),
                histories=pd.concat(histories, ignore_index=True), arms=first)


# ---------------------------------------------------------------------------------------------------------
# 4. summaries: accuracy per arm, gap closed


def accuracy_table(results: pd.DataFrame, alpha: float = 1.0) -> pd.DataFrame:
    """Per task and arm: accuracy over items x seeds with a 95% Wilson interval (proxy at ``alpha``)."""
    r = results[(results.arm != "proxy") | np.isclose(results.alpha.fillna(-1), alpha)]
    rows = []
    for (task, arm), g in r.groupby(["task", "arm"], sort=False):
        lo, hi = stats.wilson_interval(int(g.correct.sum()), len(g))
        rows.append(dict(task=task, arm=arm, n=len(g), accuracy=g.correct.mean(), ci_low=lo, ci_high=hi))
    table = pd.DataFrame(rows)
    table["arm"] = pd.Categorical(table.arm, ARMS)
    return table.sort_values(["task", "arm"]).reset_index(drop=True)


def gap_closed_value(base: float, proxy: float, direct: float) -> float:
    """(proxy - base) / (direct - base): the share of direct tuning's gain that the proxy recovers."""
    return (proxy - base) / (direct - base) if direct != base else float("nan")


def _matrix(results: pd.DataFrame, task: str, alpha: float) -> np.ndarray:
    """[n_items, 3] mean correctness over seeds of (base, proxy, direct) per item."""
    r = results[results.task == task]
    r = r[(r.arm != "proxy") | np.isclose(r.alpha.fillna(-1), alpha)]
    if r.empty:
        return np.empty((0, 3))
    wide = r.groupby(["item", "arm"]).correct.mean().unstack()
    return wide[["base", "proxy", "direct"]].to_numpy()


def gap_closed(results: pd.DataFrame, alpha: float = 1.0, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Per task: base, proxy and direct accuracy, gap closed and its 95% bootstrap interval over items (each
    item's correctness averaged over seeds), and the interval of direct - base (the denominator)."""
    rows = []
    for task in TASKS:
        m = _matrix(results, task, alpha)
        if len(m) == 0:
            continue
        b, p, d = m.mean(0)
        est = gap_closed_value(b, p, d)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(m), size=(n_resamples, len(m)))
        means = m[idx].mean(1)  # [n_resamples, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            boot = (means[:, 1] - means[:, 0]) / (means[:, 2] - means[:, 0])
        boot = boot[np.isfinite(boot)]
        lo, hi = (np.quantile(boot, [0.025, 0.975]) if len(boot) > 10 else (np.nan, np.nan))
        dlo, dhi = np.quantile(means[:, 2] - means[:, 0], [0.025, 0.975])
        rows.append(dict(task=task, items=len(m), base=b, proxy=p, direct=d, gap_closed=est, ci_low=lo, ci_high=hi,
                         direct_minus_base=d - b, dmb_low=dlo, dmb_high=dhi))
    return pd.DataFrame(rows)


def knowledge_by_mentions(results: pd.DataFrame, alpha: float = 1.0) -> pd.DataFrame:
    """Knowledge task accuracy per arm and mention rung of the fact (Wilson 95%)."""
    r = results[(results.task == "knowledge") & ((results.arm != "proxy") | np.isclose(results.alpha.fillna(-1), alpha))]
    rows = []
    for (arm, m), g in r.groupby(["arm", "mentions"]):
        lo, hi = stats.wilson_interval(int(g.correct.sum()), len(g))
        rows.append(dict(arm=arm, mentions=int(m), accuracy=g.correct.mean(), ci_low=lo, ci_high=hi, n=len(g)))
    return pd.DataFrame(rows)


def gap_closed_by_seed(results: pd.DataFrame, alpha: float = 1.0) -> pd.DataFrame:
    """Gap closed per task for each fine-tuning seed alone (point estimates): the seed-to-seed spread."""
    frames = [gap_closed(g, alpha, n_resamples=200).assign(seed=seed) for seed, g in results.groupby("seed")]
    return pd.concat(frames).pivot(index="seed", columns="task", values="gap_closed")


def alpha_table(results: pd.DataFrame) -> pd.DataFrame:
    """Proxy accuracy per task and alpha (Wilson 95%), with base and direct as references."""
    rows = []
    for (task, alpha), g in results[results.arm == "proxy"].groupby(["task", "alpha"]):
        lo, hi = stats.wilson_interval(int(g.correct.sum()), len(g))
        rows.append(dict(task=task, alpha=alpha, accuracy=g.correct.mean(), ci_low=lo, ci_high=hi))
    return pd.DataFrame(rows)


def knowledge_retention(results: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> dict:
    """Knowledge task: proxy minus direct accuracy (items averaged over seeds) with a paired bootstrap 95%
    interval, and both against the large base."""
    m = _matrix(results, "knowledge", 1.0)
    diff = m[:, 1] - m[:, 2]
    lo, hi = (round(v, 12) for v in stats.bootstrap_interval(diff, seed=seed, n_resamples=n_resamples))  # 0 is 0
    return dict(proxy=m[:, 1].mean(), direct=m[:, 2].mean(), base=m[:, 0].mean(), proxy_minus_direct=diff.mean(),
                ci_low=lo, ci_high=hi, items=len(m))


# ---------------------------------------------------------------------------------------------------------
# 5. knowledge curves of the bases


def knowledge_curves(bases: dict[str, object]) -> pd.DataFrame:
    """Closed-book recall per mention rung of each base (``intro.closed_book_recall``, the corpus's Q&A format)."""
    from sticky.experiments import intro

    frames = []
    for name, b in bases.items():
        table = intro.recall_by_mentions(intro.closed_book_recall(b.model, b.world))
        frames.append(table.assign(model=name))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# 6. token-level shift: style / format tokens vs fact tokens


def token_classes(reference: str, answer: str, tokenizer, end_marker: str, style: str = "polite") -> list[str]:
    """Class of every token of ``reference + end marker``: 'fact' (the answer word), 'style' (the style's
    wrapper: every word before the statement and after it, and the end marker) or 'other' (the statement's
    remaining words: the entity and the relation's phrasing)."""
    head = STYLES[style]["fact_answer"].split("{s}")[0].split()
    tail = STYLES[style]["fact_answer"].split("{s}")[1].split()
    words = reference.split()
    classes = []
    for i, w in enumerate(words):
        if i < len(head) or i >= len(words) - len(tail):
            classes.append("style")
        elif w == answer:
            classes.append("fact")
        else:
            classes.append("other")
    ids = tokenizer(reference, add_special_tokens=False)["input_ids"]
    if len(ids) != len(words):
        raise RuntimeError("the micro-world tokenizer must give one token per word")
    return classes + ["style"]


def token_shift(arms: Arms, items: pd.DataFrame, alpha: float = 1.0, style: str = "polite") -> pd.DataFrame:
    """On the knowledge items' reference answers (teacher forcing), each token's probability under the base
    (plain prompt), the proxy and the directly tuned model, with its class (``token_classes``)."""
    tok, t = arms.world.tokenizer, arms.world.alignment_template
    k = items[items.task == "knowledge"].reset_index(drop=True)
    users = list(k.user)
    conts = [tok(f"{ref} {t.assistant_suffix}", add_special_tokens=False)["input_ids"] for ref in k.reference]
    plain, chat = arms.rows([arms.plain(u) for u in users]), arms.rows([arms.chat(u) for u in users])
    base = forced_logprobs([Part(arms.large, plain)], alone, conts)
    prox = forced_logprobs([Part(arms.large, plain), Part(arms.expert, chat), Part(arms.small, plain)],
                           proxy_combine(alpha), conts)
    direct = forced_logprobs([Part(arms.direct, chat)], alone, conts)
    rows = []
    for i, it in enumerate(k.itertuples()):
        cls = token_classes(it.reference, it.answer, tok, t.assistant_suffix, style)
        words = it.reference.split() + [t.assistant_suffix]
        for j, c in enumerate(cls):
            rows.append(dict(item=i, position=j, word=words[j], token_class=c, mentions=it.mentions,
                             p_base=math.exp(base[i][j]), p_proxy=math.exp(prox[i][j]), p_direct=math.exp(direct[i][j])))
    return pd.DataFrame(rows).assign(seed=arms.seed)


def shift_summary(shift: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean probability gain over the base per token class and tuned model (proxy, direct), with 95% bootstrap
    intervals over items; and per model the paired style-minus-fact gain per item with its interval."""
    rows = []
    for model in ("proxy", "direct"):
        gain = shift.assign(gain=shift[f"p_{model}"] - shift.p_base)
        per_item = gain.groupby(["seed", "item", "token_class"]).gain.mean().unstack()
        for cls in ("style", "other", "fact"):
            v = per_item[cls].dropna().to_numpy()
            lo, hi = stats.bootstrap_interval(v, seed=seed, n_resamples=1000)
            rows.append(dict(model=model, token_class=cls, mean_gain=v.mean(), ci_low=lo, ci_high=hi, items=len(v)))
        d = (per_item["style"] - per_item["fact"]).dropna().to_numpy()
        lo, hi = stats.bootstrap_interval(d, seed=seed, n_resamples=1000)
        rows.append(dict(model=model, token_class="style - fact", mean_gain=d.mean(), ci_low=lo, ci_high=hi, items=len(d)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 7. where direct tuning changes the network: weights, logit lens, restoring one layer


def _group(name: str) -> str:
    """'model.layers.2.mlp.up_proj.weight' -> 'layer 2 mlp'; embeddings and the final norm by name."""
    parts = name.split(".")
    if "layers" in parts:
        i = int(parts[parts.index("layers") + 1])
        sub = "attention" if "self_attn" in parts else "mlp" if "mlp" in parts else "norms"
        return f"layer {i} {sub}"
    return "embedding" if "embed" in name else "final norm" if "norm" in name else name


def weight_change(before: torch.nn.Module, after: torch.nn.Module) -> pd.DataFrame:
    """Relative change ||W_after - W_before||_F / ||W_before||_F per group of parameters (per layer: attention,
    MLP, norms; the embedding, which is tied to the output layer; the final norm)."""
    a = dict(after.named_parameters())
    acc: dict[str, list[float]] = {}
    for name, p in before.named_parameters():
        d = (a[name].detach().float().cpu() - p.detach().float().cpu()).pow(2).sum().item()
        w = p.detach().float().cpu().pow(2).sum().item()
        g = acc.setdefault(_group(name), [0.0, 0.0])
        g[0] += d
        g[1] += w
    rows = [dict(group=g, relative_change=math.sqrt(d / w) if w > 0 else float("nan")) for g, (d, w) in acc.items()]
    frame = pd.DataFrame(rows)
    frame["layer"] = frame.group.str.extract(r"layer (\d+)")[0].astype(float)
    return frame


@torch.no_grad()
def logit_lens(model, tokenizer, prompts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Next-token log-probabilities read from the residual stream after every decoder layer (final norm, then
    the output layer), at each prompt's last position: [n_prompts, n_layers, vocab]. The last layer's
    reading is the model's own output."""
    layers = probe.decoder_layers(model)
    norm, head = model.model.norm, model.lm_head
    captured: dict[int, torch.Tensor] = {}

    def hook(i):
        def fn(module, args, output):
            h = output[0] if isinstance(output, tuple) else output
            captured[i] = h[:, -1]
        return fn

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    rows = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    device = next(model.parameters()).device
    out = torch.empty(len(prompts), len(layers), model.config.vocab_size)
    try:
        for start in range(0, len(rows), batch_size):
            idx = list(range(start, min(len(rows), start + batch_size)))
            model(**probe.left_pad([rows[i] for i in idx], _pad_id(model), device), logits_to_keep=1, use_cache=False)
            for i in range(len(layers)):
                out[idx, i] = torch.log_softmax(head(norm(captured[i])).float(), -1).cpu()
    finally:
        for h in handles:
            h.remove()
    return out


def knowledge_readout(lens: torch.Tensor, facts: pd.DataFrame, world) -> pd.DataFrame:
    """Per layer: share of facts whose value is the top word among the relation's values, and the mean log-prob
    of the value, from ``logit_lens`` output over ``facts`` (one prompt per fact, in order)."""
    tok = world.tokenizer
    domain = {r: sorted(v) for r, v in value_domain(world).items()}
    rows = []
    for i, f in enumerate(facts.itertuples()):
        cand = tok.convert_tokens_to_ids(domain[f.relation])
        truth = tok.convert_tokens_to_ids(f.value)
        for layer in range(lens.shape[1]):
            lp = lens[i, layer]
            top = cand[int(lp[cand].argmax())]
            rows.append(dict(fact=i, layer=layer, top1=float(top == truth), logp=float(lp[truth]), mentions=f.mentions))
    return pd.DataFrame(rows)


def fact_prompts(world, facts: pd.DataFrame) -> list[str]:
    """The plain closed-book questions (the corpus's Q&A format) of ``facts``."""
    return [world.fact_prompt(e, r) for e, r in zip(facts.entity, facts.relation)]


def lens_table(models_: dict[str, torch.nn.Module], world, facts: pd.DataFrame) -> pd.DataFrame:
    """``knowledge_readout`` per model (e.g. base and direct), layers numbered from 1."""
    prompts = fact_prompts(world, facts)
    frames = [knowledge_readout(logit_lens(m, world.tokenizer, prompts), facts, world).assign(model=name)
              for name, m in models_.items()]
    out = pd.concat(frames, ignore_index=True)
    out["layer"] += 1
    return out


@torch.no_grad()
def layer_restore(base: torch.nn.Module, tuned: torch.nn.Module, world, facts: pd.DataFrame) -> pd.DataFrame:
    """Causal test: the tuned model with one decoder layer (or the embedding) put back to the base's weights,
    and its closed-book top-1 over the relation's values on ``facts``. Rows: 'none' (tuned as is), each
    layer, 'embedding', 'all' (= the base)."""
    prompts = fact_prompts(world, facts)
    tok = world.tokenizer
    domain = {r: sorted(v) for r, v in value_domain(world).items()}

    def top1(model) -> np.ndarray:
        lp = probe.probs_matrix(model, tok, prompts, list(range(len(tok))))
        out = []
        for i, f in enumerate(facts.itertuples()):
            cand = tok.convert_tokens_to_ids(domain[f.relation])
            out.append(float(cand[int(np.argmax(lp[i, cand]))] == tok.convert_tokens_to_ids(f.value)))
        return np.array(out)

    rows = [dict(restored="none (tuned)", **_acc(top1(tuned)))]
    for i in range(len(probe.decoder_layers(base))):
        m = probe.restored(tuned, base, lambda n, i=i: n.startswith(f"model.layers.{i}."))
        rows.append(dict(restored=f"layer {i + 1}", **_acc(top1(m))))
    m = probe.restored(tuned, base, lambda n: n.startswith("model.embed_tokens."))  # tied: the output layer too
    rows.append(dict(restored="embedding", **_acc(top1(m))))
    rows.append(dict(restored="all (base)", **_acc(top1(base))))
    return pd.DataFrame(rows)


def _acc(v: np.ndarray) -> dict:
    lo, hi = stats.wilson_interval(int(v.sum()), len(v))
    return dict(top1=float(v.mean()), ci_low=lo, ci_high=hi, facts=len(v))


# ---------------------------------------------------------------------------------------------------------
# 8. efficiency: three KV caches vs naive recomputation vs the large base alone


def decoding_speed(runs: dict, new_tokens: int, repeats: int = 2) -> tuple[dict[str, float], dict[str, list]]:
    """For each named run ``(parts, combine, use_cache)``: generated tokens per second (all rows' tokens / wall
    time, best of ``repeats``; no stop token, so every row decodes ``new_tokens``) and the tokens it chose."""
    speed, outputs = {}, {}
    for name, (parts, combine, cache) in runs.items():
        n = len(parts[0].rows)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            outputs[name] = decode(parts, combine, new_tokens, stop_ids=(), use_cache=cache, batch_size=n)
            best = min(best, time.perf_counter() - t0)
        speed[name] = n * new_tokens / best
    return speed, outputs


def benchmark(arms: Arms, users: Sequence[str], new_tokens: int, batch_sizes: Sequence[int], repeats: int = 2) -> pd.DataFrame:
    """``decoding_speed`` of proxy decoding with KV caches, proxy decoding recomputing every sequence each step,
    and the large base alone with its KV cache, for each number of prompts decoded together.
    ``cached_equals_naive`` records whether cached and naive decoding chose the same tokens."""
    rows = []
    for n in batch_sizes:
        some = [users[i % len(users)] for i in range(n)]
        proxy_parts, _ = arms.parts("proxy", some)
        base_parts, _ = arms.parts("base", some)
        speed, outputs = decoding_speed({"proxy, KV caches": (proxy_parts, proxy_combine(1.0), True),
                                         "proxy, naive recomputation": (proxy_parts, proxy_combine(1.0), False),
                                         "large base alone, KV cache": (base_parts, alone, True)}, new_tokens, repeats)
        same = outputs["proxy, KV caches"] == outputs["proxy, naive recomputation"]
        for name, v in speed.items():
            rows.append(dict(decoding=name, prompts=n, new_tokens=new_tokens, tokens_per_s=v,
                             speedup_vs_naive=v / speed["proxy, naive recomputation"], cached_equals_naive=same))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 9. the real-model track: a hub family sharing one vocabulary (GPU)


def real_items() -> pd.DataFrame:
    """The project's questions for real models (``data/proxy/real_items.json``): task, user, answer."""
    return pd.DataFrame(json.loads((DATA / "real_items.json").read_text()))


def same_vocabulary(*tokenizers) -> bool:
    """Whether the tokenizers map every token to the same id (the proxy adds logits position by position)."""
    vocab = tokenizers[0].get_vocab()
    return all(t.get_vocab() == vocab for t in tokenizers[1:])


def real_track(ids: dict[str, str], items: pd.DataFrame, max_new_tokens: int = 48, device: str = "auto",
               loader: Callable | None = None) -> pd.DataFrame:
    """Base / expert / proxy / direct on hub models (``ids``: large, direct, small, expert). The expert and the
    direct model see their tokenizer's chat template; the bases see the plain question. Scored by whether the
    expected answer appears in the response (case-insensitive). ``loader(id) -> (model, tokenizer)``."""
    loader = loader or (lambda name: models.load(name))
    dev = train.resolve_device(device)
    loaded = {role: loader(name) for role, name in ids.items()}
    tokenizers = [t for _, t in loaded.values()]
    if not same_vocabulary(*tokenizers):
        raise ValueError("real_* models must share one vocabulary; allowed: one family (e.g. Qwen2.5 0.5B and 1.5B)")
    tok = loaded["expert"][1]
    m = {role: mdl.to(dev).eval() for role, (mdl, _) in loaded.items()}
    plain = [tok(u)["input_ids"] for u in items.user]
    chat = [tok.apply_chat_template([{"role": "user", "content": u}], add_generation_prompt=True, tokenize=True)
            for u in items.user]
    chat = [c["input_ids"] if isinstance(c, dict) or hasattr(c, "keys") else list(c) for c in chat]
    stops = [t for t in {tok.eos_token_id, tok.pad_token_id} if t is not None]
    specs = {"base": ([Part(m["large"], plain)], alone), "expert": ([Part(m["expert"], chat)], alone),
             "direct": ([Part(m["direct"], chat)], alone),
             "proxy": ([Part(m["large"], plain), Part(m["expert"], chat), Part(m["small"], plain)], proxy_combine(1.0))}
    rows = []
    for arm, (parts, combine) in specs.items():
        out = decode(parts, combine, max_new_tokens, stops, batch_size=16)
        for i, r in enumerate(out):
            text = tok.decode(r, skip_special_tokens=True)
            rows.append(dict(item=i, arm=arm, task=items.task.iloc[i], response=text,
                             correct=float(items.answer.iloc[i].lower() in text.lower())))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 10. verdicts (the rules stated in the chapter before the results) and the scorecard


def verdict_gap(est: float, low: float, dmb_low: float, paper_low: float = PAPER_GAP_CLOSED[0]) -> str:
    """Gap closed on one task. Inconclusive unless direct tuning beats the base (interval of direct - base above
    0). Reproduced when the estimate is >= the paper's 88% minus 10 points (>= 0.78) and its interval's low end
    is above 0.5; partly when the interval's low end is above 0 otherwise; not reproduced when it reaches 0."""
    if not (np.isfinite(dmb_low) and dmb_low > 0) or not np.isfinite(low):
        return "inconclusive"
    if low <= 0:
        return "not reproduced"
    return "reproduced" if est >= paper_low - 0.10 and low > 0.5 else "partly"


def verdict_knowledge(ci_low: float, ci_high: float, base_minus_direct_low: float) -> str:
    """Proxy keeps knowledge better than direct tuning (knowledge task, paired proxy - direct over items).
    Reproduced when the interval lies above 0; not reproduced when it lies below 0; when it contains 0:
    'partly' if direct tuning did forget (the base beats direct with its interval above 0: then the proxy at
    least did not do worse), else inconclusive (nothing was forgotten, so there was nothing to keep)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "reproduced"
    if ci_high < 0:
        return "not reproduced"
    return "partly" if base_minus_direct_low > 0 else "inconclusive"


def verdict_style(diff: float, low: float, high: float) -> str:
    """Tuning shifts style tokens more than fact tokens: per item, mean probability gain on style tokens minus
    on the fact token (proxy vs base). Reproduced when the interval lies above 0; not reproduced when it
    reaches 0 from below (<= 0 entirely); otherwise partly."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low > 0:
        return "reproduced"
    return "not reproduced" if high <= 0 else "partly"


def verdict_lower_layers(lower_share: float, restore_lower_gain: float, restore_upper_gain: float,
                         tuned_loss: float) -> str:
    """The note's claim: direct tuning corrupts knowledge in lower layers. Inconclusive when direct tuning lost
    fewer than 3 points of closed-book top-1. Reproduced when the lower half of the layers holds most of the
    weight change (share > 0.5) AND restoring a lower-half layer recovers more top-1 than restoring any
    upper-half layer; partly when only one of the two holds; not reproduced when neither does."""
    if not np.isfinite(tuned_loss) or tuned_loss < 0.03:
        return "inconclusive"
    hits = int(lower_share > 0.5) + int(restore_lower_gain > restore_upper_gain)
    return {2: "reproduced", 1: "partly", 0: "not reproduced"}[hits]


def lower_layer_evidence(change: pd.DataFrame, restore: pd.DataFrame) -> dict:
    """Numbers the layer verdict reads: the lower half's share of the summed per-layer relative change, the best
    top-1 gain from restoring a lower-half / upper-half layer, and the top-1 lost to direct tuning."""
    layers = change.dropna(subset=["layer"])
    per_layer = layers.groupby("layer").relative_change.sum()
    n = len(per_layer)
    lower = per_layer[per_layer.index < n / 2].sum()
    tuned = restore.set_index("restored").top1
    gains = {int(r.split()[1]): tuned[r] - tuned["none (tuned)"] for r in tuned.index if r.startswith("layer ")}
    low_gain = max([g for l, g in gains.items() if l <= n / 2] or [np.nan])
    up_gain = max([g for l, g in gains.items() if l > n / 2] or [np.nan])
    return dict(lower_share=float(lower / per_layer.sum()), restore_lower_gain=float(low_gain),
                restore_upper_gain=float(up_gain), tuned_loss=float(tuned["all (base)"] - tuned["none (tuned)"]),
                layers=n)


def scorecard(rows: list[dict], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, rows, profile)


# ---------------------------------------------------------------------------------------------------------
# 11. figures


def curves_chart(curves: pd.DataFrame):
    import altair as alt

    c = curves[curves.mentions != "held out"].assign(m=lambda d: d.mentions.astype(int))
    base = alt.Chart(c, title="The large base knows facts the small base does not").encode(
        x=alt.X("m:Q", scale=alt.Scale(type="log"), title="mentions of the fact in pre-training"),
        color=alt.Color("model:N", title="base"))
    line = base.mark_line(point=True).encode(y=alt.Y("recall:Q", title="closed-book recall (95% Wilson)",
                                                     scale=alt.Scale(domain=[0, 1])))
    err = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    return (err + line).properties(width=plots.WIDTH, height=plots.HEIGHT)


def arms_chart(acc: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(acc).encode(x=alt.X("arm:N", sort=list(ARMS), title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar().encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                          title="accuracy (95% Wilson, items x seeds)"), color=alt.Color("arm:N", sort=list(ARMS)))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(bars, err).properties(width=160, height=plots.HEIGHT).facet(
        column=alt.Column("task:N", sort=list(TASKS), title=None), title=title)


def alpha_chart(table: pd.DataFrame, acc: pd.DataFrame):
    import altair as alt

    refs = acc[acc.arm.isin(["base", "direct"])].astype({"arm": str})
    line = alt.Chart(table).mark_line(point=True).encode(
        x=alt.X("alpha:Q", title="alpha (strength of the expert - anti-expert shift)"),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="proxy accuracy (95% Wilson)"),
        color=alt.Color("task:N", sort=list(TASKS)))
    err = alt.Chart(table).mark_rule().encode(x="alpha:Q", y="ci_low:Q", y2="ci_high:Q", color=alt.Color("task:N"))
    ref = alt.Chart(refs).mark_rule(strokeDash=[4, 4]).encode(y="accuracy:Q", color=alt.Color("task:N"),
                                                                strokeDash=alt.StrokeDash("arm:N", title="reference"))
    title = alt.TitleParams("The alpha sweep: how far the proxy's strength trades format for knowledge",
                            subtitle="lines: proxy at each alpha; dashed: the base and the directly tuned model")
    return alt.layer(ref, err, line, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def knowledge_chart(table: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(table).encode(x=alt.X("mentions:Q", scale=alt.Scale(type="log"),
                                           title="mentions of the fact in pre-training (facts never in the tuning data)"),
                                   color=alt.Color("arm:N", sort=list(ARMS)))
    line = base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="closed-book accuracy (95% Wilson)"))
    err = base.mark_rule(opacity=0.5).encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(err, line, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def shift_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    s = summary[summary.token_class != "style - fact"]
    base = alt.Chart(s).encode(x=alt.X("token_class:N", sort=["style", "other", "fact"], title=None,
                                       axis=alt.Axis(labelAngle=0)), xOffset="model:N")
    bars = base.mark_bar().encode(y=alt.Y("mean_gain:Q", title="mean probability gain over the base (95% bootstrap)"),
                                  color=alt.Color("model:N", title="tuned by"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(bars, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def change_chart(change: pd.DataFrame, title: str):
    import altair as alt

    order = list(change.group)
    return alt.Chart(change, title=title).mark_bar().encode(
        y=alt.Y("group:N", sort=order, title=None),
        x=alt.X("relative_change:Q", title="relative weight change ||dW|| / ||W|| (Frobenius)"),
        color=alt.Color("tuned:N", title="fine-tuned"), yOffset="tuned:N",
    ).properties(width=plots.WIDTH - 120, height=plots.HEIGHT + 60)


def lens_chart(lens: pd.DataFrame, title: str):
    import altair as alt

    t = lens.groupby(["model", "layer"]).top1.mean().reset_index()
    return alt.Chart(t, title=title).mark_line(point=True).encode(
        x=alt.X("layer:O", title="read after decoder layer (logit lens)"),
        y=alt.Y("top1:Q", scale=alt.Scale(domain=[0, 1]), title="facts whose value ranks first among its relation's"),
        color=alt.Color("model:N"),
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def restore_chart(restore: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(restore).encode(y=alt.Y("restored:N", sort=list(restore.restored), title="weights put back to the base's"))
    bars = base.mark_bar().encode(x=alt.X("top1:Q", scale=alt.Scale(domain=[0, 1]), title="closed-book top-1 (95% Wilson)"))
    err = base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    return alt.layer(bars, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def bench_chart(bench: pd.DataFrame, title: str):
    import altair as alt

    order = list(dict.fromkeys(bench.decoding))
    return alt.Chart(bench, title=title).mark_bar().encode(
        x=alt.X("prompts:O", title=f"prompts decoded together ({bench.new_tokens.iloc[0]} new tokens each)"),
        xOffset=alt.XOffset("decoding:N", sort=order),
        y=alt.Y("tokens_per_s:Q", scale=alt.Scale(type="log"), title="generated tokens per second (best of 2, log)"),
        color=alt.Color("decoding:N", sort=order, title=None),
    ).properties(width=plots.WIDTH - 100, height=plots.HEIGHT)
