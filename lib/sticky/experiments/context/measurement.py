"""What chapter 4 measures: answers to conflict prompts (greedy next token), rates with Wilson intervals, the
frequency analysis and paired lifts, the prompt-only interventions, the head protocol (direct logit
attribution, scaling one head, placebos) and, for 4b, elicitation, provision and the condition table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from sticky import hooks, probe, seeds, stats

from .data import (
    PROMPT_VARIANTS,
    check_vocabulary,
    demo_pool,
    elicitation_candidates,
    elicitation_prompt,
    entity_split,
    strong_rungs,
    variant_prompt,
)

# ---------------------------------------------------------------------------------------------------------
# 1. answers


def answer(model, tokenizer, prompts: list[str], memory: list[str], context: list[str],
           batch_size: int = 64) -> pd.DataFrame:
    """The greedy next token after each prompt (argmax over the whole vocabulary), whether it is the context
    or the memory value (their first token after a space on real tokenizers), and the log-probability gap
    log p(memory) - log p(context)."""
    mem = _first_tokens(tokenizer, memory)
    ctx = _first_tokens(tokenizer, context)
    pred = np.empty(len(prompts), dtype=np.int64)
    gap = np.empty(len(prompts))
    for idx, logp in probe.last_logprobs(model, tokenizer, prompts, batch_size):
        pred[idx] = logp.argmax(-1).cpu().numpy()
        rows = torch.arange(len(idx))
        gap[idx] = (logp[rows, torch.tensor(mem[idx])] - logp[rows, torch.tensor(ctx[idx])]).cpu().numpy()
    return pd.DataFrame(dict(predicted=tokenizer.convert_ids_to_tokens(pred.tolist()), in_context=pred == ctx,
                             memorized=pred == mem, memory_minus_context=gap))


def _first_tokens(tokenizer, words: list[str]) -> np.ndarray:
    """The token of each word: itself in the micro-world's word-level vocabulary, else the first token of
    " word" (how it follows a space on a real tokenizer)."""
    vocab = tokenizer.get_vocab()
    if all(w in vocab for w in words):
        return np.array([vocab[w] for w in words], dtype=np.int64)
    return np.array([tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in words], dtype=np.int64)


def context_following(model, world, seed: int = 0) -> pd.DataFrame:
    """Does the model read context at all? Facts of held-out entities (it has no prior) stated in a passage,
    then asked: the share answered with the passage's value, per relation, with Wilson intervals."""
    facts = world.facts[world.facts.held_out].reset_index(drop=True)
    prompts = [world.context_question(e, r, v, cue=i, paraphrase=i)
               for i, (e, r, v) in enumerate(zip(facts.entity, facts.relation, facts.value))]
    scored = answer(model, world.tokenizer, prompts, list(facts.value), list(facts.value))
    frame = facts.assign(in_context=scored.memorized, memorized=False, fact=facts.entity + ":" + facts.relation)
    table = pd.concat([rates_by(frame, "relation"), rates_by(frame.assign(relation="all"), "relation")])
    return table[["relation", "in_context_rate", "ci_low", "ci_high", "n"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# 2. rates and the frequency analysis (pure functions; checked by hand in the tests)


def rate(successes: int, n: int) -> dict:
    """A share with its Wilson 95% interval."""
    if n == 0:
        return dict(rate=np.nan, ci_low=np.nan, ci_high=np.nan, n=0)
    low, high = stats.wilson_interval(int(successes), int(n))
    return dict(rate=successes / n, ci_low=low, ci_high=high, n=int(n))


def rates_by(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """In-context, memorized and other rates per group; the denominator ``n`` counts every prompt of the group,
    answers that are neither value included (the ``other_rate``)."""
    rows = []
    for key, g in frame.groupby(by, sort=True):
        r = rate(int(g.in_context.sum()), len(g))
        rows.append({**(dict(zip(by, key)) if isinstance(by, list) else {by: key}),
                     "in_context_rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "memorized_rate": g.memorized.mean(), "other_rate": 1 - g.in_context.mean() - g.memorized.mean(),
                     "n": r["n"], "facts": g.fact.nunique() if "fact" in g else np.nan})
    return pd.DataFrame(rows)


def per_fact(frame: pd.DataFrame) -> pd.DataFrame:
    """Each fact's in-context rate over its prompts, with its log10 mentions."""
    g = frame.groupby("fact", sort=False)
    return pd.DataFrame(dict(in_context_rate=g.in_context.mean(), memorized_rate=g.memorized.mean(),
                             mentions=g.mentions.first(), prompts=g.size())).reset_index()


def frequency_analysis(frame: pd.DataFrame, x: str = "mentions", seed: int = 0, n_resamples: int = 1000) -> dict:
    """Spearman's rho of the per-fact in-context rate against log10 of the fact's frequency ``x``, with a
    bootstrap interval over facts; and rho of the per-prompt in-context indicator against log10 of the
    context value's frequency (``context_count``), bootstrap over prompts."""
    facts = frame.groupby("fact", sort=False).agg(rate=("in_context", "mean"), freq=(x, "first"))
    out = {"facts": len(facts), "prompts": len(frame)}
    rho = lambda a, b: stats.spearman(a, b)[0]
    for name, (a, b) in {"fact": (np.log10(facts.freq.to_numpy(float)), facts.rate.to_numpy(float)),
                         "context": (np.log10(frame.context_count.to_numpy(float)),
                                     frame.in_context.to_numpy(float))}.items():
        r, p, lo, hi = (np.nan,) * 4
        if len(a) >= 5 and np.ptp(a) > 0 and np.ptp(b) > 0:
            r, p = stats.spearman(a, b)
            _, lo, hi = stats.bootstrap(a, b, rho, n_resamples=n_resamples, seed=seed)
        out |= {f"rho_{name}": r, f"p_{name}": p, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    return out


def paired_lift(base: pd.DataFrame, other: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> tuple:
    """(lift, low, high): mean per-fact in-context rate of ``other`` minus ``base`` (same prompts, same facts),
    with a bootstrap interval over facts."""
    a = base.groupby("fact").in_context.mean()
    b = other.groupby("fact").in_context.mean().loc[a.index]
    if len(a) < 2:
        return float(b.mean() - a.mean()), np.nan, np.nan
    return stats.bootstrap(a.to_numpy(float), b.to_numpy(float), lambda x, y: float(np.mean(y - x)),
                           n_resamples=n_resamples, seed=seed)


# ---------------------------------------------------------------------------------------------------------
# 3. prompt-only interventions


def prompt_interventions(model, world, prompts: pd.DataFrame) -> pd.DataFrame:
    """Every conflict prompt under every variant, scored; one row per (prompt, variant)."""
    frames = []
    for variant in PROMPT_VARIANTS:
        texts = [variant_prompt(world, r, variant) for r in prompts.itertuples()]
        check_vocabulary(world.tokenizer, texts)
        scored = answer(model, world.tokenizer, texts, list(prompts.memory), list(prompts.context))
        frames.append(pd.concat([prompts.reset_index(drop=True).assign(variant=variant, text=texts), scored], axis=1))
    return pd.concat(frames, ignore_index=True)


def intervention_summary(scored: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per variant: in-context rate (Wilson) and its paired lift over the baseline (bootstrap over facts)."""
    base = scored[scored.variant == "baseline"]
    rows = []
    for variant, g in scored.groupby("variant", sort=False):
        r = rate(int(g.in_context.sum()), len(g))
        lift, lo, hi = paired_lift(base, g, seed) if variant != "baseline" else (0.0, 0.0, 0.0)
        rows.append(dict(variant=variant, in_context_rate=r["rate"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                         lift=lift, lift_low=lo, lift_high=hi, n=r["n"], facts=g.fact.nunique()))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 4. heads: direct logit attribution and scaling


def _norm_gain(norm: torch.nn.Module, d: int) -> torch.Tensor:
    """The elementwise gain of an RMS norm (``w`` for Llama, ``1 + w`` for Gemma): its output on a vector of
    ones, whose RMS is 1."""
    with torch.no_grad():
        return norm(torch.ones(1, d, dtype=torch.float32, device=next(norm.parameters()).device))[0].float().cpu()


def _eps(norm) -> float:
    return float(getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6)))


def _final_norm(model):
    inner = getattr(model, "model", model)
    return inner.norm


@torch.no_grad()
def logit_attribution(model, tokenizer, prompts: list[str], memory: list[str], context: list[str],
                      batch_size: int = 32) -> np.ndarray:
    """LD[i, L, H] = <head write, W_U[memory_i]> - <head write, W_U[context_i]> at the last position
    (positive: the head pushes the memorized answer), with every normalisation between the head and the
    logits frozen at its value on that prompt: the final norm, and on Gemma-style blocks the norm applied to
    the attention output before it joins the residual stream."""
    writes = hooks.head_contributions(model, tokenizer, prompts, batch_size)  # [n, L, H, d]
    layers = hooks.decoder_layers(model)
    d = writes.shape[-1]
    sandwich = all(hasattr(layer, "pre_feedforward_layernorm") for layer in layers)  # Gemma: attn -> norm -> +
    norms = ([layer.post_attention_layernorm for layer in layers] if sandwich else []) + [_final_norm(model)]
    names = [hooks.module_name(model, n) for n in norms]
    rows = probe.encode(tokenizer, prompts, special=True)
    pad, device = probe.pad_id(tokenizer), probe.model_device(model)
    rms = torch.empty(len(prompts), len(norms))
    model.eval()
    with hooks.Trace(model, keep={name: "input" for name in names}) as trace:
        for idx in probe.length_batches([len(r) for r in rows], batch_size):
            model(**probe.left_pad([rows[i] for i in idx], pad, device), logits_to_keep=1, use_cache=False)
            for i, (name, norm) in enumerate(zip(names, norms)):
                x = trace[name][:, -1].float()
                rms[idx, i] = torch.sqrt(x.pow(2).mean(-1) + _eps(norm)).cpu()  # RMS of the norm's input
    gains = torch.stack([_norm_gain(n, d) for n in norms])  # [len(norms), d]
    scaled = writes
    if sandwich:
        scaled = scaled * gains[:-1][None, :, None, :] / rms[:, :-1, None, None]
    scaled = scaled * gains[-1] / rms[:, -1, None, None, None]
    unembed = model.get_output_embeddings().weight.detach().float().cpu()
    direction = unembed[_first_tokens(tokenizer, memory)] - unembed[_first_tokens(tokenizer, context)]  # [n, d]
    return torch.einsum("nlhd,nd->nlh", scaled, direction).numpy()


def pick_heads(ld: np.ndarray) -> dict[str, str]:
    """The memory head (largest mean LD: pushes the memorized answer) and the context head (smallest mean LD)."""
    mean = ld.mean(0)
    mem = np.unravel_index(np.argmax(mean), mean.shape)
    ctx = np.unravel_index(np.argmin(mean), mean.shape)
    return {"memory": hooks.head_name(*map(int, mem)), "context": hooks.head_name(*map(int, ctx))}


def attribution_table(ld: np.ndarray) -> pd.DataFrame:
    """Mean and standard error of LD per head, sorted from the strongest memory head down."""
    n, L, H = ld.shape
    rows = [dict(head=hooks.head_name(l, h), layer=l, index=h, mean_ld=float(ld[:, l, h].mean()),
                 se=float(ld[:, l, h].std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan)
            for l in range(L) for h in range(H)]
    return pd.DataFrame(rows).sort_values("mean_ld", ascending=False).reset_index(drop=True)


def scaled_answers(model, tokenizer, prompts: pd.DataFrame, scales: dict[str, float]) -> pd.DataFrame:
    """``answer`` with the named heads' outputs multiplied by their factors (``hooks.scale_heads``)."""
    with hooks.scale_heads(model, scales):
        scored = answer(model, tokenizer, list(prompts.prompt), list(prompts.memory), list(prompts.context))
    return pd.concat([prompts.reset_index(drop=True), scored], axis=1)


def scaling_sweep(model, tokenizer, prompts: pd.DataFrame, heads: dict[str, str], factors: list[float]) -> pd.DataFrame:
    """In-context rate for each (role, head, factor): one head scaled at a time; factor 1 is the baseline."""
    rows = []
    for role, head in heads.items():
        for f in sorted({1.0, *factors}):
            s = scaled_answers(model, tokenizer, prompts, {head: f})
            r = rate(int(s.in_context.sum()), len(s))
            rows.append(dict(role=role, head=head, factor=f, in_context_rate=r["rate"], ci_low=r["ci_low"],
                             ci_high=r["ci_high"], memorized_rate=s.memorized.mean(), n=r["n"]))
    return pd.DataFrame(rows)


def best_setting(sweep: pd.DataFrame) -> dict:
    """The (role, head, factor) with the highest in-context rate on the selection split (ties: the factor
    closest to 1, the smallest intervention)."""
    s = sweep[sweep.factor != 1.0].assign(dist=lambda d: (d.factor - 1).abs())
    best = s.sort_values(["in_context_rate", "dist"], ascending=[False, True]).iloc[0]
    return dict(role=best["role"], head=best["head"], factor=float(best["factor"]))


def placebo_heads(model, exclude: list[str], n: int, seed: int) -> list[str]:
    """``n`` random heads other than ``exclude`` (the chosen ones)."""
    layers = hooks.decoder_layers(model)
    n_heads, _ = hooks.head_shape(layers[0].self_attn)
    every = [hooks.head_name(l, h) for l in range(len(layers)) for h in range(n_heads)]
    pool = [name for name in every if name not in exclude]
    return seeds.rng(seed, "placebo").sample(pool, min(n, len(pool)))


def head_evaluation(model, tokenizer, held_out: pd.DataFrame, correct: pd.DataFrame, setting: dict,
                    placebos: list[str], seed: int = 0) -> pd.DataFrame:
    """On held-out prompts: baseline, the chosen head at the chosen factor, each placebo head at that factor;
    and the accuracy on correct-context prompts under the same conditions. Lifts are paired over facts."""
    base = scaled_answers(model, tokenizer, held_out, {})
    base_ok = scaled_answers(model, tokenizer, correct, {})
    conditions = [("baseline", {}), (f"{setting['role']} head {setting['head']}", {setting["head"]: setting["factor"]})]
    conditions += [(f"placebo {h}", {h: setting["factor"]}) for h in placebos]
    rows = []
    for name, scales in conditions:
        s = scaled_answers(model, tokenizer, held_out, scales) if scales else base
        ok = scaled_answers(model, tokenizer, correct, scales) if scales else base_ok
        r = rate(int(s.in_context.sum()), len(s))
        lift, lo, hi = paired_lift(base, s, seed) if scales else (0.0, 0.0, 0.0)
        c = rate(int(ok.in_context.sum()), len(ok))
        rows.append(dict(condition=name, kind="baseline" if not scales else "placebo" if name.startswith("placebo")
                         else "chosen", in_context_rate=r["rate"], ci_low=r["ci_low"], ci_high=r["ci_high"],
                         lift=lift, lift_low=lo, lift_high=hi, n=r["n"], correct_context_accuracy=c["rate"],
                         correct_low=c["ci_low"], correct_high=c["ci_high"], correct_n=c["n"]))
    return pd.DataFrame(rows)


def head_experiment(model, tokenizer, prompts: pd.DataFrame, correct: pd.DataFrame, factors: list[float],
                    n_placebo: int, seed: int) -> dict:
    """The whole head protocol on conflict ``prompts`` (with a ``split`` column): attribution and head choice
    on the selection split, the scaling sweep there, then baseline / chosen / placebos and the
    correct-context control on the held-out split."""
    sel, held = prompts[prompts.split == "selection"], prompts[prompts.split == "held-out"]
    ld = logit_attribution(model, tokenizer, list(sel.prompt), list(sel.memory), list(sel.context))
    heads = pick_heads(ld)
    sweep = scaling_sweep(model, tokenizer, sel, heads, factors)
    setting = best_setting(sweep)
    placebos = placebo_heads(model, list(heads.values()), n_placebo, seed)
    held_correct = correct[correct.split == "held-out"]
    evaluation = head_evaluation(model, tokenizer, held, held_correct, setting, placebos, seed)
    return dict(attribution=attribution_table(ld), heads=heads, sweep=sweep, setting=setting, placebos=placebos,
                evaluation=evaluation, selection_facts=sel.fact.nunique(), held_out_facts=held.fact.nunique())


# ---------------------------------------------------------------------------------------------------------
# 5. 4b: prompting cannot inject absent knowledge


def elicitation_search(model, world, facts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every candidate on every fact: one row per (candidate, fact) with ``correct`` (greedy = answer)."""
    pool = demo_pool(world, strong_rungs(world))
    rows = []
    for cand in elicitation_candidates(world):
        for f in facts.itertuples():
            rows.append(dict(candidate=cand["name"], kind=cand["kind"], fact=f.fact, relation=f.relation,
                             presence=f.presence, chance=f.chance, value=f.value,
                             split=entity_split(f.entity, seed),
                             prompt=elicitation_prompt(world, cand, f.entity, f.relation, f.value, pool, seed)))
    frame = pd.DataFrame(rows)
    check_vocabulary(world.tokenizer, list(frame.prompt))
    return _score_closed(model, world.tokenizer, frame)


def _score_closed(model, tokenizer, frame: pd.DataFrame) -> pd.DataFrame:
    scored = answer(model, tokenizer, list(frame.prompt), list(frame.value), list(frame.value))
    return frame.reset_index(drop=True).assign(predicted=scored.predicted, correct=scored.memorized)


def best_elicitation(search: pd.DataFrame) -> pd.DataFrame:
    """Per presence group: the candidate with the best accuracy on the selection split, its accuracy on the
    held-out split (Wilson), and the oracle best accuracy over all facts (an optimistic upper bound)."""
    rows = []
    for group, g in search.groupby("group", sort=False):
        sel = g[g.split == "selection"].groupby("candidate").correct.mean()
        choice = sel.idxmax() if len(sel) else g.candidate.iloc[0]
        ev = g[(g.split == "held-out") & (g.candidate == choice)]
        r = rate(int(ev.correct.sum()), len(ev))
        oracle = g.groupby("candidate").correct.mean()
        rows.append(dict(group=group, condition="elicitation (best prompt)", candidate=choice, accuracy=r["rate"],
                         ci_low=r["ci_low"], ci_high=r["ci_high"], n=r["n"], chance=g.chance.mean(),
                         oracle_accuracy=oracle.max(), oracle_candidate=oracle.idxmax()))
    return pd.DataFrame(rows)


def provision(model, world, facts: pd.DataFrame) -> pd.DataFrame:
    """Condition (b): the fact stated in a passage before the question."""
    frame = facts.assign(prompt=[world.context_question(e, r, v) for e, r, v in zip(facts.entity, facts.relation,
                                                                                     facts.value)])
    return _score_closed(model, world.tokenizer, frame)


def condition_table(best: pd.DataFrame, provided: pd.DataFrame, tuned: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per condition x presence group, Wilson 95% intervals (fine-tuning: pooled over seeds); the
    elicitation rows name their chosen candidate."""
    rows = [r for r in best[["group", "condition", "candidate", "accuracy", "ci_low", "ci_high", "n", "chance"]]
            .to_dict("records")]
    for name, frame in (("fact in context", provided), ("fine-tuning", tuned)):
        for group, g in frame.groupby("group", sort=False):
            r = rate(int(g.correct.sum()), len(g))
            rows.append(dict(group=group, condition=name, accuracy=r["rate"], ci_low=r["ci_low"],
                             ci_high=r["ci_high"], n=r["n"], chance=g.chance.mean()))
    return pd.DataFrame(rows)
