"""What chapter 1 measures: the scores (pure functions of probabilities, checked by hand in the tests), every
text learned and scored against its control (``measure``), the threshold fit, the exposure and mitigation
experiments and their summaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sticky import stats, train

from .lab import Lab
from .parameters import SPACING

# ---------------------------------------------------------------------------------------------------------
# scores (pure functions of probabilities; checked by hand in the tests)


def drift_corrected_ratio(p_after, p_before, p_control=None) -> np.ndarray:
    """P_after / P_before, divided by the control's P_control / P_before when a control is given
    (= P_after / P_control: whatever the background steps alone did to the probability is removed)."""
    p_after, p_before = np.asarray(p_after, dtype=float), np.asarray(p_before, dtype=float)
    ratio = p_after / p_before
    if p_control is not None:
        ratio = ratio / (np.asarray(p_control, dtype=float) / p_before)
    return ratio


def memorization_score(p_after, p_before, p_control=None) -> np.ndarray:
    """S_mem = P_after(key | X_c) / P_before(key | X_c), drift-corrected: how much the text itself was learned."""
    return drift_corrected_ratio(p_after, p_before, p_control)


def priming_score(p_after, p_before, p_control=None, axis: int = -1) -> np.ndarray:
    """S_prime = mean over a prefix bank of P_after / P_before (each drift-corrected), along ``axis``."""
    return drift_corrected_ratio(p_after, p_before, p_control).mean(axis=axis)


# ---------------------------------------------------------------------------------------------------------
# measurements


def text_scores(lab: Lab, text: dict, before: dict, after: dict, control: dict, own_before: np.ndarray,
                own_after: np.ndarray, own_control: np.ndarray) -> dict:
    """The scores of one text (memorization_score, priming_score on its theme's bank, cross_priming_score on
    the other themes' banks) from the bank matrices (prefix x keyword) and its own-context probabilities.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    k = lab.keywords.index[lab.keywords.keyword == text["keyword"]][0]
    theme = lab.bank_theme == text["theme"]
    b, a, c = (np.asarray(m["bank"])[:, k] for m in (before, after, control))
    return dict(memorization_score=float(memorization_score(own_after, own_before, own_control)),
                priming_score=float(priming_score(a[theme], b[theme], c[theme])),
                cross_priming_score=float(priming_score(a[~theme], b[~theme], c[~theme])),
                # what S_prime is made of, for the null model beside rho: the bank's mean P_before, its mean
                # drift-corrected P_after, and S_prime if P_after were the same constant (1) on every prefix
                bank_p_before=float(b[theme].mean()), bank_p_after=float((a[theme] * b[theme] / c[theme]).mean()),
                constant_after_score=float((1 / b[theme]).mean()))


def measure(lab: Lab, texts: pd.DataFrame, steps: int | None = None, schedule: list[int] | None = None,
            ignore_k: float = 0.0, text_column: str = "text", context_column: str = "context") -> pd.DataFrame:
    """Learn every text separately (fresh copy each) and score it against the matching control run.

    Returns ``texts`` with p_before (P(key | X_c) on the base model), memorization_score (on ``context``,
    the original X_c), priming_score (thematic bank) and cross_priming_score (the other themes' banks);
    with a stepping-stone ``text_column``, also p_before_own (P(key | the rewritten text's own context)).

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis).
    """
    steps = steps or lab.cfg.steps
    schedule = list(schedule if schedule is not None else train.consecutive(0, steps))
    contexts = list(texts.context) + (list(texts[context_column]) if context_column != "context" else [])
    targets = [lab.token_of(k) for k in texts.keyword] * (2 if context_column != "context" else 1)
    before = lab.before(contexts, targets)
    control = lab.run(None, [], steps, ignore_k, contexts, targets)
    rows = []
    for i, row in enumerate(texts.itertuples(index=False)):
        own = [row.context] + ([getattr(row, context_column)] if context_column != "context" else [])
        target = [lab.token_of(row.keyword)] * len(own)
        after = lab.run(getattr(row, text_column), schedule, steps, ignore_k, own, target)
        scores = text_scores(lab, row._asdict(), before, after, control, before["own"][i], after["own"][0],
                         control["own"][i])
        extra = {}
        if context_column != "context":
            extra["p_before_own"] = before["own"][len(texts) + i]
        rows.append(dict(p_before=before["own"][i], **extra, **scores))
    return pd.concat([texts.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def threshold_analysis(results: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman rho (and bootstrap interval) of log10 S_prime against log10 p_before, the step change point
    (threshold, its bootstrap interval, the below-minus-above gap with its interval), and the same rho for
    memorization against p_before and for priming against memorization.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    x = np.log10(results.p_before.to_numpy())
    y = np.log10(results.priming_score.to_numpy())
    m = np.log10(results.memorization_score.to_numpy())
    out = {"n": len(x)}
    pairs = {"prime": (x, y), "mem": (x, m), "prime_mem": (m, y)}
    if "constant_after_score" in results:  # the parts of S_prime and the constant-P_after null model
        pairs |= {"after": (x, np.log10(results.bank_p_after.to_numpy())),
                  "log_odds": (x, log_odds_change(results.bank_p_before.to_numpy(), results.bank_p_after.to_numpy())),
                  "null": (x, np.log10(results.constant_after_score.to_numpy()))}
    for name, (a, b) in pairs.items():
        r, p, lo, hi = (np.nan,) * 4
        if len(a) >= 3:
            r, p = stats.spearman(a, b)
            _, lo, hi = stats.bootstrap(a, b, stats.spearman_rho, n_resamples=n_resamples, seed=seed)
        out |= {f"rho_{name}": r, f"p_{name}": p, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    try:
        fit = stats.change_point_fit(x, y)
        _, lo, hi = stats.bootstrap(x, y, lambda a, b: stats.change_point_fit(a, b)["threshold"],
                                    n_resamples=n_resamples, seed=seed)
        _, glo, ghi = stats.bootstrap(x, y, _step_gap, n_resamples=n_resamples, seed=seed)
        out |= dict(threshold_log10=fit["threshold"], threshold_low=lo, threshold_high=hi,
                    below=fit["below"], above=fit["above"], gap=fit["below"] - fit["above"], gap_low=glo, gap_high=ghi)
    except ValueError:  # too few distinct p_before values for a change point
        out |= dict(threshold_log10=np.nan, threshold_low=np.nan, threshold_high=np.nan, below=np.nan, above=np.nan,
                    gap=np.nan, gap_low=np.nan, gap_high=np.nan)
    parts = {name: pairs[name] for name in ("after", "log_odds", "null") if name in pairs}
    return out | keyword_intervals(x, y, results.keyword.to_numpy(), n_resamples, seed, parts)


def log_odds_change(p_before, p_after) -> np.ndarray:
    """logit(P_after) - logit(P_before), in nats: the change a constant-gain learner would make the same for every
    keyword, whatever its prior."""
    logit = lambda p: np.log(np.asarray(p, dtype=float)) - np.log1p(-np.asarray(p, dtype=float))
    return logit(p_after) - logit(p_before)


def _step_gap(x: np.ndarray, y: np.ndarray) -> float:
    """Priming below the fitted break minus above it (decades of S_prime)."""
    fit = stats.change_point_fit(x, y)
    return fit["below"] - fit["above"]


def keyword_intervals(x: np.ndarray, y: np.ndarray, keywords: np.ndarray, n_resamples: int, seed: int,
                      parts: dict[str, tuple] | None = None) -> dict:
    """The intervals of rho and of the step's gap with the keyword as the unit of replication: a keyword's texts
    share its prior, so resampling texts (``threshold_analysis``'s first intervals) counts one keyword's texts
    as independent evidence. ``keywords`` labels each text's keyword; the output's ``keywords`` counts them.
    ``parts``: more (x, y) pairs whose rho gets the same interval (``rho_<name>_kw_low`` / ``_high``)."""
    out = {"keywords": len(set(keywords.tolist()))}
    tests = {"rho_prime": (stats.spearman_rho, x, y), "gap": (_step_gap, x, y)}
    tests |= {f"rho_{name}": (stats.spearman_rho, a, b) for name, (a, b) in (parts or {}).items()}
    for name, (statistic, a, b) in tests.items():
        lo = hi = np.nan
        try:
            _, lo, hi = stats.cluster_bootstrap(statistic, a, b, units=keywords, n_resamples=n_resamples, seed=seed)
        except ValueError:  # too few texts for rho or a change point
            pass
        out |= {f"{name}_kw_low": lo, f"{name}_kw_high": hi}
    return out


def low_prior_subset(results: pd.DataFrame) -> pd.DataFrame:
    """The first text of each keyword, then the half (at least 2) with the lowest p_before: where priming is
    expected, so the exposure and mitigation runs are spent where there is something to change.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    first = results.groupby("keyword", sort=False).head(1).sort_values("p_before")
    return first.head(max(2, math.ceil(len(first) / 2))).reset_index(drop=True)


def exposure_experiment(lab: Lab, subset: pd.DataFrame, counts: list[int], main: pd.DataFrame) -> pd.DataFrame:
    """S_prime and S_mem after ``n`` exposures spaced every ``SPACING`` minibatches (measured right after the
    last one, against a control of the same length), next to the main run's ``learn_steps`` consecutive ones."""
    texts = subset[lab_text_columns(subset)]
    frames = []
    for n in counts:
        res = measure(lab, texts, steps=(n - 1) * SPACING + 1, schedule=train.spaced(0, n, SPACING))
        frames.append(res.assign(condition=f"{n} spaced" if n > 1 else "1", exposures=n))
    consec = main[main.text_id.isin(subset.text_id)]
    frames.append(consec.assign(condition=f"{lab.cfg.steps} consecutive", exposures=lab.cfg.steps))
    return pd.concat(frames, ignore_index=True)


def mitigation_experiment(lab: Lab, subset: pd.DataFrame, ks: list[float], main: pd.DataFrame) -> pd.DataFrame:
    """Each mitigation's S_prime / S_mem on the subset, next to no mitigation (the main run): ignore-k for each
    k > 0, and the stepping-stone rewrite (memorization measured on the original X_c)."""
    base = main[main.text_id.isin(subset.text_id)].set_index("text_id").loc[subset.text_id].reset_index()
    texts = subset[[c for c in subset.columns if c in lab_text_columns(subset)]]
    frames = [base.assign(mitigation="none", k=0.0)]
    for k in ks:
        if k > 0:
            frames.append(measure(lab, texts, ignore_k=k).assign(mitigation=f"ignore-k {k:.0%}", k=k))
    stone = measure(lab, texts, text_column="stone_text", context_column="stone_context")
    frames.append(stone.assign(mitigation="stepping stone", k=0.0))
    return pd.concat(frames, ignore_index=True)


def lab_text_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that describe a text to learn (id, keyword, theme, ladder rank, the text and its
    context, their stepping-stone rewrites), as far as it has them: what ``measure`` needs, without scores.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    keep = ["text_id", "keyword", "theme", "rank", "designed_rate", "text", "context", "stone_text", "stone_context"]
    return [c for c in keep if c in frame.columns]


def _mean_log_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    values = np.log10(np.asarray(values, dtype=float))
    if len(values) < 2:
        return float(values.mean()), float("nan"), float("nan")
    low, high = stats.bootstrap_interval(values, seed=seed, n_resamples=1000)
    return float(values.mean()), low, high


def _paired(x: np.ndarray, y: np.ndarray, statistic, seed: int) -> tuple[float, float, float]:
    """(estimate, low, high) of a paired statistic; no interval from a single text."""
    if len(x) < 2:
        return statistic(x, y), np.nan, np.nan
    return stats.bootstrap(x, y, statistic, n_resamples=1000, seed=seed)


def exposure_summary(exp: pd.DataFrame) -> pd.DataFrame:
    """Per condition: mean log10 S_prime over texts with its bootstrap 95% interval (and S_mem)."""
    rows = []
    for (cond, n), g in exp.groupby(["condition", "exposures"], sort=False):
        m, lo, hi = _mean_log_ci(g.priming_score)
        mm, mlo, mhi = _mean_log_ci(g.memorization_score)
        rows.append(dict(condition=cond, exposures=n, texts=len(g), log10_priming=m, low=lo, high=hi,
                         log10_memorization=mm, mem_low=mlo, mem_high=mhi))
    return pd.DataFrame(rows)


def mitigation_summary(mit: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per mitigation: priming reduction = 1 - mean log10 S_prime / the unmitigated mean, memorization kept =
    mean log10 S_mem / the unmitigated mean, each with a paired bootstrap 95% interval over texts (the
    chart's, and the v1 rule's); the reduction also with a jackknife t interval over keywords (``reduction_t_*``,
    ``reduction_df``: the claim's, since a percentile bootstrap over a handful of keywords covers too little);
    for the stepping stone, the median rise of p_before (decades) on the rewritten text's own context."""
    base = mit[mit.mitigation == "none"].set_index("text_id")
    rows = []
    for name, g in mit[mit.mitigation != "none"].groupby("mitigation", sort=False):
        g = g.set_index("text_id").loc[base.index]
        xb, yb = np.log10(base.priming_score.to_numpy()), np.log10(g.priming_score.to_numpy())
        xm, ym = np.log10(base.memorization_score.to_numpy()), np.log10(g.memorization_score.to_numpy())
        ratio = lambda a, b: float(np.mean(b) / np.mean(a)) if np.mean(a) != 0 else float("nan")
        red = lambda a, b: 1 - ratio(a, b)
        r, rlo, rhi = _paired(xb, yb, red, seed)
        kept, klo, khi = _paired(xm, ym, ratio, seed)
        _, tlo, thi, df = stats.jackknife_t(red, xb, yb, units=g.keyword.to_numpy())
        rise = np.nan
        if "p_before_own" in g and g.p_before_own.notna().all():
            rise = float(np.median(np.log10(g.p_before_own / g.p_before)))
        rows.append(dict(mitigation=name, texts=len(g), priming_reduction=r, reduction_low=rlo, reduction_high=rhi,
                         reduction_t_low=tlo, reduction_t_high=thi, reduction_df=df,
                         memorization_kept=kept, kept_low=klo, kept_high=khi, p_before_rise_decades=rise))
    return pd.DataFrame(rows)
