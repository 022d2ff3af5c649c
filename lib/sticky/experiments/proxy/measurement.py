"""What chapter 5 measures with the arms: the task scores, every arm decoded on the evaluation items (every
seed, the contrast style), the summaries (accuracy per arm, gap closed, knowledge kept), the
bases' knowledge curves, and the decoding benchmark."""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd

from sticky import models, probe, stats, train
from sticky.decoding import alone, decode
from sticky.store import Recipe, Store
from sticky.world import documents as docs
from sticky.world import lexicon as lx

from .data import eval_items, split_facts, value_domain
from .ensemble import proxy_combine
from .localisation import token_shift
from .parameters import ARMS, TASKS
from .training import Arms, tune

# ---------------------------------------------------------------------------------------------------------
# the task scores


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
# the arms on the evaluation items: every seed (its own bases), the contrast style


# Every arm decoded and scored on the evaluation items.
EVAL_RECIPE = Recipe("proxy-eval", 1)


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


def contrast(world, P, store: Store | None = None) -> pd.DataFrame:
    """The gap-closed table of the other instruction style, ``contrast_seeds`` seeds, alpha only."""
    from types import SimpleNamespace

    Q = SimpleNamespace(**{**vars(P), "style": other_style(P.style), "seeds": P.contrast_seeds,
                           "alpha_values": [P.alpha]})
    facts = split_facts(world, P.world_seed)
    items = eval_items(world, facts, P.items_per_task, seed=P.seed, style=Q.style)
    run = run_seeds(items, Q, store)
    table = gap_closed(run["results"], P.alpha, seed=P.seed)
    acc = accuracy_table(run["results"], P.alpha)
    small_acc = acc[acc.arm == "small base"].set_index("task").accuracy
    expert_acc = acc[acc.arm == "expert"].set_index("task").accuracy
    return table.assign(style=Q.style, small_base=table.task.map(small_acc), expert=table.task.map(expert_acc))


def seed_bases(P, seed: int) -> tuple:
    """The small and the large base of seed ``seed`` (a ``models.Micro`` each), both pre-trained from seed
    ``P.seed + seed``: seed 0 is the shared base pair of the other chapters, every later seed a pair of its own."""
    return tuple(models.micro(size, profile=P.profile, seed=P.seed + seed, world_seed=P.world_seed, device=P.device)
                 for size in (P.small, P.large))


def run_seeds(items: pd.DataFrame, P, store: Store | None = None) -> dict:
    """For each seed (the unit of replication): its own pair of bases (``seed_bases``), the expert (small base)
    and the direct model (large base) tuned with that seed, every item decoded with every arm (the alpha sweep
    on the first seed only), and the token shift. A seed repeats everything a seed can change, pre-training
    included: a verdict that flipped with the base models' seed would have been decided by that one pair.
    Returns the concatenated ``results`` and ``shift`` frames, the loss ``histories`` and every seed's
    ``arms``."""
    store = store or Store()
    dev = train.resolve_device(P.device)
    results, shifts, histories, all_arms = [], [], [], []
    for seed in range(P.seeds):
        small, large = seed_bases(P, seed)
        expert, h_e, e_entry = tune(small, P, seed, store)
        direct, h_d, d_entry = tune(large, P, seed, store)
        histories += [h_e.assign(model="expert (small tuned)", seed=seed),
                      h_d.assign(model="direct (large tuned)", seed=seed)]
        arms = Arms(large.world, large.model.to(dev), small.model.to(dev), expert, direct, seed)
        alphas = sorted(set(P.alpha_values) | {P.alpha}) if seed == 0 else [P.alpha]
        results.append(run_arms(arms, items, alphas, store, key=f"{e_entry.name}-{d_entry.name}"))
        shifts.append(token_shift(arms, items, P.alpha, P.style))
        all_arms.append(arms)
    return dict(results=pd.concat(results, ignore_index=True), shift=pd.concat(shifts, ignore_index=True),
                histories=pd.concat(histories, ignore_index=True), arms=all_arms)


# ---------------------------------------------------------------------------------------------------------
# summaries: accuracy per arm, gap closed


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
    r = results[(results.task == "knowledge")
                & ((results.arm != "proxy") | np.isclose(results.alpha.fillna(-1), alpha))]
    rows = []
    for (arm, m), g in r.groupby(["arm", "mentions"]):
        lo, hi = stats.wilson_interval(int(g.correct.sum()), len(g))
        rows.append(dict(arm=arm, mentions=int(m), accuracy=g.correct.mean(), ci_low=lo, ci_high=hi, n=len(g)))
    return pd.DataFrame(rows)


def gap_closed_by_seed(results: pd.DataFrame, alpha: float = 1.0) -> pd.DataFrame:
    """Gap closed per task for each seed alone (point estimates): the seed-to-seed spread."""
    frames = [gap_closed(g, alpha, n_resamples=200).assign(seed=seed) for seed, g in results.groupby("seed")]
    return pd.concat(frames).pivot(index="seed", columns="task", values="gap_closed")


def alpha_table(results: pd.DataFrame) -> pd.DataFrame:
    """Proxy accuracy per task and alpha (Wilson 95%), with base and direct as references."""
    rows = []
    for (task, alpha), g in results[results.arm == "proxy"].groupby(["task", "alpha"]):
        lo, hi = stats.wilson_interval(int(g.correct.sum()), len(g))
        rows.append(dict(task=task, alpha=alpha, accuracy=g.correct.mean(), ci_low=lo, ci_high=hi))
    return pd.DataFrame(rows)


def knowledge_retention(results: pd.DataFrame, alpha: float, seed: int = 0, n_resamples: int = 2000) -> dict:
    """Knowledge task: proxy (at strength ``alpha``) minus direct accuracy (items averaged over seeds) with a
    paired bootstrap 95% interval, and both against the large base."""
    m = _matrix(results, "knowledge", alpha)
    diff = m[:, 1] - m[:, 2]
    lo, hi = (round(v, 12) for v in stats.bootstrap_interval(diff, seed=seed, n_resamples=n_resamples))  # 0 is 0
    return dict(proxy=m[:, 1].mean(), direct=m[:, 2].mean(), base=m[:, 0].mean(), proxy_minus_direct=diff.mean(),
                ci_low=lo, ci_high=hi, items=len(m))


# ---------------------------------------------------------------------------------------------------------
# the token shift on content words


def content_words(world) -> set[str]:
    """The words of the pre-training corpus that are neither punctuation nor a chat-template marker: tokens that
    the bases produce as well as the tuned models. The end marker of the alignment template (and, in the chatty
    style, wrapper words the corpus never holds) has no trained probability under a base, so its 'gain' under
    tuning is a first appearance, not a shift."""
    corpus = {w for text in world.pretrain["text"] for w in text.split(" ")}
    markers = set(docs.ADDED_MARKERS) | set(world.alignment_template.markers())
    return corpus - set(lx.PUNCTUATION) - markers


def content_shift(shift: pd.DataFrame, words: set[str], model: str = "proxy") -> pd.DataFrame:
    """Per seed and item of ``token_shift``: the mean probability gain of ``model`` over the base on
    the item's style tokens that are content ``words``, on its fact token, and their difference (items whose
    reply has no such style token, or whose fact is not such a word, drop out)."""
    kept = shift[shift.word.isin(words) & shift.token_class.isin(["style", "fact"])]
    gain = kept.assign(gain=kept[f"p_{model}"] - kept.p_base)
    per_item = gain.groupby(["seed", "item", "token_class"]).gain.mean().unstack().reindex(columns=["style", "fact"])
    per_item = per_item.dropna().reset_index()
    return per_item.assign(style_minus_fact=per_item["style"] - per_item["fact"])


# ---------------------------------------------------------------------------------------------------------
# knowledge curves of the bases


def knowledge_curves(bases: dict[str, object]) -> pd.DataFrame:
    """Closed-book recall per mention rung of each base (``intro.closed_book_recall``, the corpus's Q&A format)."""
    from sticky.experiments import intro

    frames = []
    for name, b in bases.items():
        table = intro.recall_by_mentions(intro.closed_book_recall(b.model, b.world))
        frames.append(table.assign(model=name))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# efficiency: three KV caches vs naive recomputation vs the large base alone


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


def benchmark(arms: Arms, users: Sequence[str], new_tokens: int, batch_sizes: Sequence[int],
              repeats: int = 2) -> pd.DataFrame:
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
