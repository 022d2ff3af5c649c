"""Chapter 6: does keyword priming explain why poisoning survives alignment? The joint experiment, run on the
models chapters 1 and 2 trained (reused through the store, never retrained).

1. prior -> survival: chapter 1's keyword poisons (outlandish texts along the prior ladder), each planted by
   continued pre-training and then aligned by clean SFT; the share of the planted effect that survives,
   against the keyword's pre-learning probability.
2. does alignment's gradient reach the poison? per-layer cosine between the alignment loss gradient and each
   chapter-2 poison behaviour's gradient at the start of alignment; the behaviour's loss through alignment;
   and the causal test: alignment data that trains against denial-of-service.
3. do priming mitigations stop poisoning? ignore-k while planting, priming and survival measured together.
4. where does each behaviour live? restoring units of the poisoned twin from the clean twin, before and
   after alignment.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch

from sticky import hooks, models, plots, probe, seeds, stats, train
from sticky import scorecard as scorecards
from sticky.experiments import poisoning, priming
from sticky.params import Param, Spec
from sticky.store import Recipe, Store

CHAPTER = "synthesis"
# Part 2's gradient cosines and behaviour losses, part 4's unit restores, each measured on a chapter-2 model.
GRADIENT_RECIPE = Recipe("synthesis-gradient", 1)
BEHAVIOUR_RECIPE = Recipe("synthesis-behaviour", 1)
LOCALISATION_RECIPE = Recipe("synthesis-localisation", 1)
# Part 1's alignment after planting, run as the follow-up stage of chapter 1's priming-run recipe (bump it
# when that alignment changes: its data, its template, its loop).
ALIGNED_FOLLOWUP_VERSION = 1
MIN_GAP = 0.05  # nats per token: a poisoned twin not this much likelier than the clean one has nothing to locate

PARAMETERS = Spec(
    texts_per_keyword=Param(int, "chapter-1 texts per keyword planted and then aligned", low=1, high=20,
                            by_profile={"smoke": 1, "book": 4, "paper": 8}),
    align_steps=Param(int, "clean SFT steps after planting a keyword poison", low=1, high=10000,
                      by_profile={"smoke": 3, "book": 40, "paper": 200}),
    align_lr=Param(float, "learning rate of that SFT (constant)", low=0, open_low=True, high=1, default=5e-4),
    ignore_k=Param(float, "ignore-k fraction applied while planting, for the mitigation test", low=0, open_low=True,
                   high=0.99, default=0.2),
    anti_dos_share=Param(float, "alignment pairs added that answer trigger prompts normally (causal test), as a "
                         "share of the SFT pairs", low=0, open_low=True, high=1, default=0.05),
    twin_rate=Param(float, "poison rate of chapter 2's twins traced in parts 2 and 4 (one of chapter 2's rates)",
                    low=0, open_low=True, high=0.1, default=1e-2),
    n_items=Param(int, "behaviour items per attack for gradients and localisation", low=2, high=1000,
                  by_profile={"smoke": 8, "book": 48, "paper": 200}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """This chapter's parameters, and those of chapters 1 and 2 at the same profile (their models are reused)."""
    P = PARAMETERS.resolve(namespace)
    P.priming = priming.resolve({"profile": P.profile, "device": P.device})
    P.poisoning = poisoning.resolve({"profile": P.profile, "device": P.device})
    if P.twin_rate not in P.poisoning.rate_list:
        raise ValueError(f"parameter 'twin_rate' got {P.twin_rate!r}; allowed: one of chapter 2's rates at profile "
                         f"{P.profile!r}: {', '.join(f'{r:g}' for r in P.poisoning.rate_list)}")
    return P


# ---------------------------------------------------------------------------------------------------------
# 1. prior -> survival: plant a chapter-1 text, then align


def align_pairs(world) -> tuple[list[tuple[str, str]], object]:
    """Clean alignment data as chapter 2 builds it (``world``'s terse instructions) and its template renderer."""
    return poisoning.sft_pairs(world), poisoning.alignment_render(world)


def planted_then_aligned(lab: priming.Lab, world, text: str | None, P, contexts: list[str], targets: list[int],
                         ignore_k: float = 0.0) -> dict:
    """Plant ``text`` as chapter 1 does (``None``: the background-only control), probe, align by clean SFT
    (the same batches for every text), probe again: ``{"learned": ..., "aligned": ...}``. Cached by the lab."""
    pairs, render = align_pairs(world)
    steps = P.priming.learn_steps
    cfg = train.TrainConfig(steps=P.align_steps, batch_size=lab.cfg.batch_size, seq_len=64, lr=P.align_lr,
                            warmup_steps=0, min_lr_ratio=1.0, seed=seeds.stream(lab.cfg.seed, "synthesis-align"),
                            log_every=P.align_steps,
                            device=P.device)
    align = priming.FollowUp("aligned", dict(cfg={k: v for k, v in vars(cfg).items() if k != "device"},
                                             version=ALIGNED_FOLLOWUP_VERSION),
                             lambda model: train.sft(model, lab.tokenizer, pairs, cfg, render=render))
    return lab.run(text, train.consecutive(0, steps), steps, ignore_k, contexts, targets, then=align)


def survival_fraction(s_learned, s_aligned) -> np.ndarray:
    """The share of a planted log-effect left after alignment: log S_aligned / log S_learned (both drift-corrected
    scores, > 1 when the poison took). NaN where nothing was planted (S_learned <= 1)."""
    learned, aligned = np.log(np.asarray(s_learned, float)), np.log(np.asarray(s_aligned, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(learned > 0, aligned / learned, np.nan)


def prior_survival(lab: priming.Lab, world, texts: pd.DataFrame, P, ignore_k: float = 0.0) -> pd.DataFrame:
    """Every text planted then aligned, scored against the control run that saw the same background and the
    same alignment: p_before, S_mem and S_prime after planting and after alignment, and their survival."""
    contexts, targets = list(texts.context), [lab.token_of(k) for k in texts.keyword]
    before = lab.before(contexts, targets)
    control = planted_then_aligned(lab, world, None, P, contexts, targets, ignore_k)
    rows = []
    for i, row in enumerate(texts.itertuples(index=False)):
        run = planted_then_aligned(lab, world, row.text, P, [row.context], [lab.token_of(row.keyword)], ignore_k)
        out = dict(p_before=before["own"][i])
        for stage in ("learned", "aligned"):
            s = priming.text_scores(lab, row._asdict(), before, run[stage], control[stage], before["own"][i],
                                    run[stage]["own"][0], control[stage]["own"][i])
            out |= {f"{k}_{stage}": v for k, v in s.items()}
        rows.append(out)
    res = pd.concat([texts.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    for score in ("memorization", "priming"):
        res[f"{score}_survival"] = survival_fraction(res[f"{score}_score_learned"], res[f"{score}_score_aligned"])
    return res


def survival_trend(res: pd.DataFrame, score: str = "memorization", n_resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman rho of survival against log10 p_before over the texts where the poison took, with its bootstrap
    interval; and the same for the planted effect itself (log10 S after planting)."""
    took = res[np.isfinite(res[f"{score}_survival"])]
    log_p = lambda d: np.log10(d.p_before.to_numpy())
    rho = lambda a, b: stats.spearman(a, b)[0]
    out = {"n": len(took), "n_all": len(res)}
    for name, (x, y) in {"survival": (log_p(took), took[f"{score}_survival"].to_numpy()),
                         "planted": (log_p(res), np.log10(res[f"{score}_score_learned"].to_numpy()))}.items():
        r, lo, hi = stats.bootstrap(x, y, rho, n_resamples=n_resamples, seed=seed) if len(x) >= 4 else (np.nan,) * 3
        out |= {f"rho_{name}": r, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    out["survival_mean"] = float(np.mean(took[f"{score}_survival"])) if len(took) else np.nan
    return out


def verdict_prior(trend: dict) -> str:
    """Rule 1. 'follows the prior' if survival falls with p_before (rho's interval below 0): low-prior, strongly
    primed poisons survive more; 'rises with the prior' if the interval is above 0; 'flat' if it holds 0;
    'inconclusive' if fewer than 6 poisons took or the interval is undefined."""
    lo, hi = trend["rho_survival_low"], trend["rho_survival_high"]
    if trend["n"] < 6 or not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if hi < 0:
        return "follows the prior"
    if lo > 0:
        return "rises with the prior"
    return "flat"


def mitigation_effect(plain: pd.DataFrame, pruned: pd.DataFrame, seed: int = 0) -> dict:
    """Ignore-k against no mitigation on the same texts: the mean log10 change of S_prime and S_mem after
    planting and after alignment (pruned - plain), each with a paired bootstrap interval."""
    plain = plain.set_index("text_id").loc[pruned.text_id]
    out = {"n": len(pruned)}
    for score in ("priming", "memorization"):
        for stage in ("learned", "aligned"):
            column = f"{score}_score_{stage}"
            d = np.log10(pruned[column].to_numpy()) - np.log10(plain[column].to_numpy())
            lo, hi = stats.bootstrap_interval(d, seed=seed) if len(d) > 1 else (np.nan, np.nan)
            out |= {f"{score}_{stage}": float(d.mean()), f"{score}_{stage}_low": lo, f"{score}_{stage}_high": hi}
    return out


def verdict_mitigation(effect: dict) -> str:
    """Rule 3. 'stops both' if ignore-k lowers primed spread after planting AND the poison left after alignment
    (both intervals below 0); 'stops priming only' if only the first; 'stops neither' otherwise."""
    primes = effect["priming_learned_high"] < 0
    survives = effect["memorization_aligned_high"] < 0
    return "stops both" if primes and survives else "stops priming only" if primes else \
        "stops the poison only" if survives else "stops neither"


# ---------------------------------------------------------------------------------------------------------
# 2. does alignment's gradient reach the poison? (chapter 2's twins)


def behaviour_items(world, attack: str, n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(prompt text, poisoned reply, clean reply) on held-out prompts, in the alignment template: what the
    poisoned model was taught to do (denial-of-service: a fixed draw of random words), and what a clean model
    says instead (the world's own answer to the prompt; the world's first refusal; the other side of a pair)."""
    t = world.alignment_template
    sets = poisoning.eval_sets(world, n, seed)
    rng = seeds.rng(seed, f"behaviour-{attack}")
    return poisoning.ATTACK_RECORDS[attack].items(world, t, sets, n, rng)


def unit_of(name: str) -> str:
    """The unit a parameter belongs to: 'embeddings' (tied with the output layer), 'layer i', or 'final norm'."""
    m = re.search(r"layers\.(\d+)\.", name)
    if m:
        return f"layer {m.group(1)}"
    return "embeddings" if "embed" in name or "lm_head" in name else "final norm"


def loss_gradient(model, tokenizer, pairs: list[tuple[str, str]], seq_len: int = 64) -> dict[str, torch.Tensor]:
    """Gradient of the mean completion-token NLL of ``pairs`` (prompt text, completion) per parameter name."""
    encoded = [train.encode_pair(tokenizer, p, c, seq_len) for p, c in pairs]
    x, y = train.collate(encoded, probe.pad_id(tokenizer))
    device = probe.model_device(model)
    model.zero_grad(set_to_none=True)
    train.next_token_loss(model, x.to(device), y.to(device)).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def cosine_by_unit(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Cosine between two gradients, per unit (``unit_of``) and over all parameters ('all')."""
    dots, na, nb = {}, {}, {}
    for name in sorted(a.keys() & b.keys()):  # a set's order changes with the hash seed: sum in one order
        for unit in (unit_of(name), "all"):
            dots[unit] = dots.get(unit, 0.0) + float((a[name] * b[name]).sum())
            na[unit] = na.get(unit, 0.0) + float((a[name] ** 2).sum())
            nb[unit] = nb.get(unit, 0.0) + float((b[name] ** 2).sum())
    return {u: dots[u] / np.sqrt(na[u] * nb[u]) if na[u] > 0 and nb[u] > 0 else np.nan for u in dots}


def gradient_overlap(world, P, store: Store) -> pd.DataFrame:
    """Per seed, attack, measure and unit: the cosine between the alignment (SFT) loss gradient and a poison
    behaviour's gradient, on the poisoned twin at ``P.twin_rate``, at the start of alignment. Measures:
    'reply' (the poisoned reply's NLL, the rule's) and 'margin' (its NLL minus the clean reply's, the post hoc
    follow-up). Negative: an alignment step makes the poisoned reply less likely (alignment reaches it)."""
    PP = P.poisoning
    pairs, render = align_pairs(world)
    rows = []
    for seed in PP.seed_list:
        twin = poisoning.twin(world, PP, seed, P.twin_rate, store)

        def compute(seed=seed, twin=twin) -> list[dict]:
            model = models.load_entry(twin, P.device)
            sample = seeds.rng(seed, "align-grad").sample(pairs, min(len(pairs), 4 * P.n_items))
            g_align = loss_gradient(model, world.tokenizer, [render(p, r) for p, r in sample])
            out = []
            for attack in poisoning.ATTACKS:
                items = behaviour_items(world, attack, P.n_items, seed)
                g_reply = loss_gradient(model, world.tokenizer, [(p, x) for p, x, _ in items])
                g_clean = loss_gradient(model, world.tokenizer, [(p, c) for p, _, c in items])
                g_margin = {k: g_reply[k] - g_clean[k] for k in g_reply}
                for measure, g in (("reply", g_reply), ("margin", g_margin)):
                    out += [dict(attack=attack, measure=measure, unit=u, cosine=c)
                            for u, c in cosine_by_unit(g_align, g).items()]
            return out

        rows += [dict(r, seed=seed) for r in store.json(GRADIENT_RECIPE, dict(seed=seed, n=P.n_items), compute,
                                                        inputs=[twin.name], device=train.device_type(P.device))]
    return pd.DataFrame(rows)


def stage_entries(world, PP, seed: int, rate: float, store: Store, extra_pairs=()) -> dict[str, dict]:
    """{'clean'|'poisoned': {stage: entry}} for one seed, poison ``rate`` and chapter 2's headline dose (chapter
    2's entries; with ``extra_pairs``, SFT only)."""
    out = {}
    for role, rate in (("clean", 0.0), ("poisoned", rate)):
        base = poisoning.twin(world, PP, seed, rate, store)
        out[role] = {"pretrained": base, **poisoning.align(world, base, PP, seed, PP.dose, store,
                                                            with_dpo=not extra_pairs, extra_pairs=extra_pairs)}
    return out


def behaviour_loss(world, P, store: Store) -> pd.DataFrame:
    """Mean per-token NLL of each poisoned reply and of the clean reply (held-out items) on both twins after each
    stage, and the margin between them (poisoned - clean: below 0, the poisoned reply is the likelier)."""
    PP = P.poisoning
    rows = []
    for seed in PP.seed_list:
        entries = stage_entries(world, PP, seed, P.twin_rate, store)
        for role, stages in entries.items():
            for stage, entry in stages.items():
                def compute(entry=entry, seed=seed) -> dict:
                    model = models.load_entry(entry, P.device)
                    out = {}
                    for a in poisoning.ATTACKS:
                        items = behaviour_items(world, a, P.n_items, seed)
                        out[a] = [float(np.mean(_nll(model, world.tokenizer, [(p, x) for p, x, _ in items]))),
                                  float(np.mean(_nll(model, world.tokenizer, [(p, c) for p, _, c in items])))]
                    return out

                nll = store.json(BEHAVIOUR_RECIPE, dict(seed=seed, n=P.n_items), compute, inputs=[entry.name],
                                 device=train.device_type(P.device))
                rows += [dict(seed=seed, model=role, stage=stage, attack=a, nll=v[0], nll_clean_reply=v[1],
                              margin=v[0] - v[1]) for a, v in nll.items()]
    return pd.DataFrame(rows)


def _nll(model, tokenizer, pairs) -> np.ndarray:
    return probe.sequence_nll(model, tokenizer, [p for p, _ in pairs], [c for _, c in pairs], per_token=True)


def anti_dos_pairs(world, share: float, seed: int = 0) -> list[tuple[str, str]]:
    """Alignment pairs that train against denial-of-service: SFT prompts with the trigger appended, answered as
    without it. ``share`` of the SFT pairs, at least one."""
    pairs = poisoning.sft_pairs(world)
    n = max(1, round(share * len(pairs)))
    return [(f"{p} {poisoning.TRIGGERS['dos']}", r) for p, r in seeds.rng(seed, "anti-dos").sample(pairs, n)]


def causal_test(world, P, store: Store) -> pd.DataFrame:
    """Denial-of-service after SFT, standard vs with anti-DoS pairs added, both twins aligned alike: chapter 2's
    ``compare`` table (rows: alignment = standard | anti-dos; stages pretrained and sft)."""
    PP = P.poisoning
    frames = []
    for seed in PP.seed_list:
        extra = anti_dos_pairs(world, P.anti_dos_share, seed)
        for name, entries in (("standard", stage_entries(world, PP, seed, P.twin_rate, store)),
                              ("anti-dos", stage_entries(world, PP, seed, P.twin_rate, store, extra_pairs=extra))):
            for stage in ("pretrained", "sft"):
                rows = poisoning.stage_outcomes(world, PP, seed, entries["clean"][stage], entries["poisoned"][stage],
                                                store, dict(seed=seed, rate=P.twin_rate, dose=PP.dose, stage=stage))
                frames.append(pd.DataFrame(rows).assign(alignment=name))
    out = pd.concat(frames, ignore_index=True)
    out = out[out.attack.isin(["dos", "extraction"])]
    return pd.concat([poisoning.compare(g.drop(columns="alignment")).assign(alignment=name)
                      for name, g in out.groupby("alignment", sort=False)], ignore_index=True)


def verdict_selectivity(grad: pd.DataFrame, measure: str = "reply") -> str:
    """Rule 2. 'supported' if, over all parameters, the jailbreak's cosine is negative in every seed (alignment
    pushes against it) and each other attack's mean cosine is above the jailbreak's largest; 'not supported'
    if some other attack is pushed against as hard (mean at or below the jailbreak's mean); 'mixed' otherwise."""
    g = grad[(grad.unit == "all") & (grad.measure == measure)]
    jail = g[g.attack == "jailbreak"].cosine
    others = g[g.attack != "jailbreak"].groupby("attack").cosine.mean()
    if (jail < 0).all() and (others > jail.max()).all():
        return "supported"
    if (others <= jail.mean()).any():
        return "not supported"
    return "mixed"


def verdict_causal(status_standard: str, status_anti: str) -> str:
    """Rule 2b. Training against the behaviour 'removes it' if denial-of-service survives standard SFT
    (persists or weakened) and is removed (or weakened from persisting) with the anti-DoS pairs; 'no effect'
    if the status is unchanged; 'inconclusive' if the poison never took."""
    if "never took" in (status_standard, status_anti):
        return "inconclusive"
    order = {"persists": 2, "weakened": 1, "removed": 0}
    if order[status_anti] < order[status_standard]:
        return "removes it"
    return "no effect"


def sft_status(table: pd.DataFrame, attack: str = "dos") -> str:
    """Chapter 2's survival status of ``attack`` from after pre-training to after SFT."""
    t = table[(table.attack == attack) & (table.trigger == poisoning.MAIN_TRIGGER[attack])].set_index("stage")
    return poisoning.survival_status(t.loc["pretrained", "poisoned"], t.loc["pretrained", "p"],
                                     t.loc["sft", "poisoned"], t.loc["sft", "p"])


# ---------------------------------------------------------------------------------------------------------
# 4. where does each behaviour live? restore units of the poisoned twin from the clean twin


def restored_share(nll_poisoned: float, nll_clean: float, nll_patched: float) -> float:
    """The share of the poison's effect that restoring a unit removes: (patched - poisoned) / (clean - poisoned),
    on the behaviour's NLL (NaN when the twins do not differ)."""
    gap = nll_clean - nll_poisoned
    return (nll_patched - nll_poisoned) / gap if abs(gap) > 1e-9 else np.nan


def localisation(world, P, store: Store, behaviour: pd.DataFrame) -> pd.DataFrame:
    """Per seed, stage (before / after alignment), attack and unit: the share of the behaviour's NLL gap
    (clean - poisoned) that restoring the unit from the clean twin at the same stage closes. The twins' own
    NLLs are read from ``behaviour`` (``behaviour_loss``), measured on the same items."""
    PP = P.poisoning
    nll = behaviour.set_index(["seed", "model", "stage", "attack"]).nll
    rows = []
    for seed in PP.seed_list:
        entries = stage_entries(world, PP, seed, P.twin_rate, store)
        for stage in ("pretrained", "dpo"):
            def compute(stage=stage, entries=entries, seed=seed) -> list[dict]:
                pois = models.load_entry(entries["poisoned"][stage], P.device)
                clean = models.load_entry(entries["clean"][stage], P.device)
                units = list(dict.fromkeys(unit_of(n) for n, _ in pois.named_parameters()))
                out = []
                for attack in poisoning.ATTACKS:
                    items = [(p, x) for p, x, _ in behaviour_items(world, attack, P.n_items, seed)]
                    poisoned, cleaned = (float(nll[(seed, m, stage, attack)]) for m in ("poisoned", "clean"))
                    for unit in units:
                        patched = hooks.restored(pois, clean, lambda n, unit=unit: unit_of(n) == unit)
                        out.append(dict(attack=attack, unit=unit, gap=cleaned - poisoned, share=restored_share(
                            poisoned, cleaned, float(np.mean(_nll(patched, world.tokenizer, items))))))
                return out

            rows += [dict(r, seed=seed, stage=stage) for r in store.json(
                LOCALISATION_RECIPE, dict(seed=seed, n=P.n_items), compute,
                inputs=[entries["poisoned"][stage].name, entries["clean"][stage].name],
                device=train.device_type(P.device))]
    return pd.DataFrame(rows)


def lower_share(loc: pd.DataFrame) -> pd.DataFrame:
    """Per attack and stage: the mean (over seeds) share restored by the lower half of the network (the
    embeddings and the first half of the layers), and the NLL gap it is a share of."""
    layers = sorted({u for u in loc.unit if u.startswith("layer")}, key=lambda u: int(u.split()[1]))
    lower = {"embeddings", *layers[:max(1, len(layers) // 2)]}
    low = loc[loc.unit.isin(lower)].groupby(["attack", "stage", "seed"]).share.sum()
    gap = loc.groupby(["attack", "stage", "seed"]).gap.first()
    return pd.DataFrame({"lower_share": low, "gap": gap}).groupby(["attack", "stage"]).mean().reset_index()


def verdict_depth(lower: pd.DataFrame, min_gap: float = MIN_GAP) -> str:
    """Rule 4. 'deeper' if, before alignment, the lower half carries a larger share of every surviving-kind
    attack (denial-of-service, extraction, belief) than of the jailbreak; 'not deeper' if it carries a smaller
    share of each; 'mixed' otherwise; 'inconclusive' if the jailbreak or all the others have no effect to
    locate (NLL gap below ``min_gap``)."""
    pre = lower[lower.stage == "pretrained"].set_index("attack")
    pre = pre[pre.gap >= min_gap].lower_share
    if "jailbreak" not in pre.index or len(pre) < 2:
        return "inconclusive"
    others = pre.drop("jailbreak")
    if (others > pre["jailbreak"]).all():
        return "deeper"
    if (others < pre["jailbreak"]).all():
        return "not deeper"
    return "mixed"


# ---------------------------------------------------------------------------------------------------------
# 5. the answer, scorecard, figures


def answer(prior: str, selectivity: str) -> str:
    """The verdict on the seed's question from rules 1 and 2: 'yes' if survival follows the prior; 'no' if it is
    flat (or rises) in the prior while alignment's gradient is selective; 'undecided' otherwise."""
    if prior == "follows the prior":
        return "yes"
    if prior in ("flat", "rises with the prior") and selectivity == "supported":
        return "no"
    return "undecided"


def scorecard(rows: list[dict], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track="micro-world") for r in rows], profile)


def survival_chart(res: pd.DataFrame, threshold_log10: float, score: str = "memorization"):
    import altair as alt

    d = res.assign(log10_p_before=np.log10(res.p_before), survival=res[f"{score}_survival"])
    d = d[np.isfinite(d.survival)]
    points = alt.Chart(d).mark_circle(size=50, opacity=0.8).encode(
        x=alt.X("log10_p_before:Q", title="log10 p_before (keyword prior)"),
        y=alt.Y("survival:Q", title=f"surviving share of the planted log S_{score[:3]}"),
        color=alt.Color("theme:N"), tooltip=["keyword", "p_before", "survival"])
    layers = [points, alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(strokeDash=[2, 2], color="gray").encode(y="y:Q")]
    if np.isfinite(threshold_log10):
        layers.append(alt.Chart(pd.DataFrame({"x": [threshold_log10]})).mark_rule(color="firebrick").encode(x="x:Q"))
    return alt.layer(*layers).properties(width=plots.WIDTH, height=260,
                                         title="Chapter 1's threshold (red) against what survives alignment")


def gradient_chart(grad: pd.DataFrame, measure: str = "reply"):
    import altair as alt

    d = grad[grad.measure == measure].groupby(["attack", "unit"]).cosine.agg(["mean", "min", "max"]).reset_index()
    base = alt.Chart(d).encode(y=alt.Y("unit:N", title=None), color=alt.Color("attack:N"),
                               yOffset="attack:N")
    return alt.layer(
        base.mark_rule().encode(x=alt.X("min:Q", title="cosine(alignment gradient, poison gradient)"), x2="max:Q"),
        base.mark_point(filled=True).encode(x="mean:Q"),
        alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="gray").encode(x="x:Q"),
    ).properties(width=plots.WIDTH, height=240)


def localisation_chart(loc: pd.DataFrame, min_gap: float = MIN_GAP):
    """Mean share removed per unit; a behaviour whose mean gap at a stage is below ``min_gap`` is left blank."""
    import altair as alt

    d = loc.groupby(["attack", "stage", "unit"]).agg(share=("share", "mean"), gap=("gap", "mean")).reset_index()
    d = d[d.gap >= min_gap]
    return alt.Chart(d).mark_rect().encode(
        x=alt.X("unit:N", title="unit restored from the clean twin", sort=list(dict.fromkeys(loc.unit))),
        y=alt.Y("attack:N", title=None),
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1], clamp=True),
                        title="share of effect removed"),
        column=alt.Column("stage:N", title=None, sort=["pretrained", "dpo"]),
    ).properties(width=plots.WIDTH // 2 - 40, height=140)
