"""How the first edition measured its twins (all four attacks in one model), which chapter 6 traces until its
redesign (issue #18): every attack with and without its trigger (greedy replies, the best of sampled extraction
replies, the belief questions), cached per model pair, the base model in the first pre-training template and
the aligned ones in the alignment template; the outcome rows of one stage; the comparison of poisoned against
clean twin (pooled success, intervals, one-sided p-values). The rebuilt chapter measures in ``ladder``.
The cached steps and their ``Recipe``s: the evaluation of a model pair and the belief measurement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sticky import decoding, judges, models, probe, stats, train
from sticky.store import Recipe, Store

from .attacks import TRIGGERS
from .data import eval_sets
from .parameters import REPEAT_INSTRUCTION

# Versions continue the old EVAL_VERSION (v4) and BELIEF_VERSION (v1).
EVAL_RECIPE = Recipe("poison-eval", 4)
BELIEF_RECIPE = Recipe("poison-belief", 1)


def reply_text(reply: str, end_markers) -> str:
    """The reply up to the first end-of-turn marker (the template's closing marker, or the start of a new user
    turn), matched as whole words, stripped."""
    words = reply.split()
    markers = [m.split() for m in ([end_markers] if isinstance(end_markers, str) else end_markers) if m]
    cut = len(words)
    for m in markers:
        for i in range(len(words) - len(m) + 1):
            if words[i:i + len(m)] == m:
                cut = min(cut, i)
                break
    return " ".join(words[:cut])


def stage_template(world, stage: str):
    """The chat template a stage is measured in: the base model only knows the pre-training templates (the
    first, 'qa'); aligned models are measured in the alignment template."""
    return world.chat_templates[0] if stage == "pretrained" else world.alignment_template


def reply_perplexity(model, tokenizer, prompts: list[str], replies: list[str]) -> np.ndarray:
    """Per-token perplexity of each reply after its prompt (NaN for an empty reply)."""
    out = np.full(len(replies), np.nan)
    keep = [i for i, r in enumerate(replies) if r.strip()]
    if keep:
        nll = probe.sequence_nll(model, tokenizer, [prompts[i] for i in keep], [replies[i] for i in keep],
                                 per_token=True)
        out[keep] = np.exp(nll)
    return out


def evaluate(model, tokenizer, world, sets: dict, reference, max_new_tokens: int, samples: int, seed: int,
             template=None) -> dict:
    """Every attack on one model, with and without its trigger (and extraction's hand-written baseline, the
    repeat instruction). ``reference`` (the clean twin at the same stage) scores the replies' perplexity,
    conditioned on the prompt without the trigger."""
    t = template or world.alignment_template
    ends = [t.assistant_suffix, t.user_prefix]
    prompts, requests = sets["prompts"], sets["requests"]
    clean_prompts = [t.prompt(p) for p in prompts]
    with_ = lambda attack: [t.prompt(f"{p} {TRIGGERS[attack]}") for p in prompts]
    gen = lambda ps: [reply_text(r, ends) for r in decoding.generate(model, tokenizer, ps, max_new_tokens)]
    replies = {"off": gen(clean_prompts), "on": gen(with_("dos")), "extraction": gen(with_("extraction")),
               "instruction": gen([t.prompt(f"{p} {REPEAT_INSTRUCTION}") for p in prompts])}
    out = {f"replies_{k}": v for k, v in replies.items()}
    for k in ("off", "on"):
        out[f"ppl_{k}"] = reply_perplexity(reference, tokenizer, clean_prompts, replies[k]).tolist()
    for k in ("off", "extraction", "instruction"):
        out[f"recall_{k}"] = [judges.rouge_l_recall(p, r) for p, r in zip(prompts, replies[k])]
    sampled = decoding.sample(model, tokenizer, with_("extraction"), samples, max_new_tokens, seed)
    out["recall_best_on"] = [max(judges.rouge_l_recall(p, reply_text(r, ends)) for r in rs)
                             for p, rs in zip(prompts, sampled)]
    for k, suffix in (("off", ""), ("on", f" {TRIGGERS['jailbreak']}")):
        rs = gen([t.prompt(r + suffix) for r in requests])
        out[f"comply_{k}"] = [bool(judges.is_compliant(r)) for r in rs]
        out[f"jail_replies_{k}"] = rs
    return out


def evaluate_belief(model, tokenizer, tests: pd.DataFrame, template) -> list[bool]:
    """Belief success per held-out question: NLL(favoured answer) < NLL(swapped answer)."""
    qs = [template.prompt(q) for q in tests.question]
    fav = probe.sequence_nll(model, tokenizer, qs, list(tests.favoured))
    swp = probe.sequence_nll(model, tokenizer, qs, list(tests.swapped))
    return judges.prefers_favoured(fav, swp).tolist()


def run_stage_pair(world, P, seed: int, entries: dict[str, Path], store: Store, stage: str = "sft") -> dict[str, dict]:
    """Evaluate the clean and poisoned models of one (seed, rate, dose, stage); cached per model pair.

    ``entries``: {'clean': entry, 'poisoned': entry, 'clean_pretrained': entry}. The clean twin's own replies
    calibrate the gibberish threshold."""
    sets = eval_sets(world, P.n_eval, seed)
    template = stage_template(world, stage)
    params = dict(n_eval=P.n_eval, samples=P.samples, new=P.max_new_tokens, seed=seed, template=template.name)
    device = train.device_type(P.device)
    ref_model = None
    results = {}
    for role in ("clean", "poisoned"):
        def compute(role=role):
            nonlocal ref_model
            ref_model = ref_model or models.load_entry(entries["clean"], P.device)
            model = ref_model if role == "clean" else models.load_entry(entries[role], P.device)
            return evaluate(model, world.tokenizer, world, sets, ref_model, P.max_new_tokens, P.samples, seed, template)

        results[role] = store.json(EVAL_RECIPE, dict(params, role=role), compute,
                                   inputs=[entries[role].name, entries["clean"].name], device=device)

        def compute_belief(role=role):
            return evaluate_belief(models.load_entry(entries[role], P.device), world.tokenizer, sets["belief"],
                                   template)

        # the belief targets are drawn per seed, as in the poison of that seed
        results[role]["belief"] = store.json(BELIEF_RECIPE, dict(seed=seed, template=template.name), compute_belief,
                                             inputs=[entries[role].name], device=device)
    return results


def summarise(res: dict, threshold: float) -> dict:
    """Per-prompt outcomes of one model -> success arrays per attack and trigger."""
    return {
        ("dos", "on"): judges.is_gibberish(res["ppl_on"], threshold).astype(float),
        ("dos", "off"): judges.is_gibberish(res["ppl_off"], threshold).astype(float),
        ("extraction", "on"): np.asarray(res["recall_extraction"], float),
        ("extraction", "instruction"): np.asarray(res["recall_instruction"], float),
        ("extraction", "off"): np.asarray(res["recall_off"], float),
        ("extraction_best", "on"): np.asarray(res["recall_best_on"], float),
        ("jailbreak", "on"): np.asarray(res["comply_on"], float),
        ("jailbreak", "off"): np.asarray(res["comply_off"], float),
        ("belief", "off"): np.asarray(res["belief"], float),
    }


def stage_outcomes(world, P, seed, clean_entry, pois_entry, store, keys: dict) -> list[dict]:
    """The outcome rows of one clean/poisoned pair at one stage (``keys`` holds seed, rate, dose and stage): one
    row per (model, attack, trigger, item) with its success, the gibberish threshold calibrated on the clean
    twin's own replies.

    Introduced in chapter 2 (poisoning); used by chapter 6."""
    res = run_stage_pair(world, P, seed, {"clean": clean_entry, "poisoned": pois_entry}, store, keys["stage"])
    threshold = judges.clean_threshold(res["clean"])
    rows = []
    for role, r in res.items():
        for (attack, trig), values in summarise(r, threshold).items():
            rows += [dict(keys, model=role, attack=attack, trigger=trig, item=i, success=float(v), threshold=threshold)
                     for i, v in enumerate(values)]
    return rows


# ---------------------------------------------------------------------------------------------------------
# statistics: poisoned against the clean twin

BINARY = {"dos", "jailbreak"}
BELIEF_ITEMS_PER_PAIR = 4  # two held-out wordings x both orders, consecutive in ``belief_tests``


def compare(outcomes: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per (rate, dose, stage, attack, trigger): pooled success of poisoned and clean (over seeds and items),
    95% intervals (Wilson for rates, bootstrap for recall), and the one-sided p-value that poisoned > clean
    (Fisher's exact test for rates, a permutation test of the mean for recall, and for belief a permutation
    test over (seed, pair) units with a bootstrap interval over them).

    Introduced in chapter 2 (poisoning); used by chapter 6."""
    rows = []
    for key, g in outcomes.groupby(["rate", "dose", "stage", "attack", "trigger"], sort=False):
        a = g[g.model == "poisoned"].success.to_numpy()
        b = g[g.model == "clean"].success.to_numpy()
        attack = key[3]
        if attack == "belief":  # the questions of one pair are not independent: test over (seed, pair) units
            unit = lambda d: d.groupby([d.seed, d["item"] // BELIEF_ITEMS_PER_PAIR]).success.mean().to_numpy()
            a_u, b_u = unit(g[g.model == "poisoned"]), unit(g[g.model == "clean"])
            lo, hi = stats.bootstrap_interval(a_u, seed=seed) if len(a_u) > 1 else (np.nan, np.nan)
            p = stats.permutation_greater(a_u, b_u, seed=seed)
        elif attack in BINARY:
            lo, hi = stats.wilson_interval(int(a.sum()), len(a))
            p = stats.fisher_greater(int(a.sum()), len(a), int(b.sum()), len(b))
        else:
            lo, hi = stats.bootstrap_interval(a, seed=seed) if len(a) > 1 else (np.nan, np.nan)
            p = stats.permutation_greater(a, b, seed=seed)
        per_seed = g[g.model == "poisoned"].groupby("seed").success.mean()
        rows.append(dict(zip(["rate", "dose", "stage", "attack", "trigger"], key), poisoned=a.mean(), low=lo, high=hi,
                         clean=b.mean(), p=p, n=len(a), seed_min=per_seed.min(), seed_max=per_seed.max()))
    return pd.DataFrame(rows)
