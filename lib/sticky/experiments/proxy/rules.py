"""Chapter 5's claims, declared in ``sticky.claims`` before their numbers (gap closed per task against the
paper's figure for the nearest metric, and on average; the proxy keeps knowledge that direct tuning loses;
tuning moves style words more than the fact; the note's lower-layer claim), and the scorecard rows that decide
them, every interval over seeds (each with its own pair of bases).

The ``verdict_*`` functions are the rules of the book's first edition (v1), kept because the page shows their
verdict beside the new one: the rules were revised after review, when their numbers had been seen."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims
from sticky import scorecard as scorecards  # the module; `scorecard` below is this chapter's rows

from .measurement import content_shift
from .parameters import (
    CHAPTER,
    PAPER_GAP_CLOSED,
    PAPER_RESULTS,
    PAPER_SIZE,
    PAPER_STYLE_GAIN,
    PAPER_TASK,
    TASKS,
    paper_gap_closed,
    paper_gap_closed_average,
)


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
    n = change.layer.nunique()
    tuned = restore.set_index("restored").top1
    gains = {int(r.split()[1]): tuned[r] - tuned["none (tuned)"] for r in tuned.index if r.startswith("layer ")}
    low_gain = max([g for l, g in gains.items() if l <= n / 2] or [np.nan])
    up_gain = max([g for l, g in gains.items() if l > n / 2] or [np.nan])
    return dict(lower_share=lower_half_share(change), restore_lower_gain=float(low_gain),
                restore_upper_gain=float(up_gain), tuned_loss=float(tuned["all (base)"] - tuned["none (tuned)"]),
                layers=n)


def lower_half_share(change: pd.DataFrame) -> float:
    """The lower half's share of the summed per-layer relative weight change (``weight_change`` of one model)."""
    per_layer = change.dropna(subset=["layer"]).groupby("layer").relative_change.sum()
    return float(per_layer[per_layer.index < len(per_layer) / 2].sum() / per_layer.sum())


# ---------------------------------------------------------------------------------------------------------
# the claims, revised after review (through sticky.claims): the unit is the seed, pre-training included

UNIT = "seed"  # bases pre-trained, expert and direct model tuned afresh: everything a seed can change
GAP_DELTA = 0.25
GAP_DELTA_REASON = "a quarter of direct tuning's gain: a proxy that recovers less is no substitute for tuning"
MIN_TUNED_LOSS = 0.03  # top-1 points direct tuning must lose before there is lost knowledge to locate


def gap_claim(task: str, size: str = PAPER_SIZE) -> claims.Claim:
    """Gap closed on ``task`` reaches the paper's figure for the nearest metric (a size claim)."""
    metric = PAPER_TASK[task][0]
    return claims.Claim(f"gap_closed_{task}", f"proxy-tuning closes the paper's share of the tuning gap on {task} "
                        f"(paper: {metric}, {size})", "paper finding", "positive", GAP_DELTA, GAP_DELTA_REASON,
                        UNIT, paper=paper_gap_closed(size)[metric], size=True)


def gap_average_claim(size: str = PAPER_SIZE) -> claims.Claim:
    """The secondary row: gap closed averaged over our tasks against the paper's average over its five metrics."""
    return claims.Claim("gap_closed_average", f"proxy-tuning closes the paper's average share of the tuning gap "
                        f"(mean over our tasks; paper: five metrics, {size}; secondary to the per-task rows)",
                        "paper finding", "positive", GAP_DELTA, GAP_DELTA_REASON, UNIT,
                        paper=paper_gap_closed_average(size), size=True)


KEEPS_KNOWLEDGE = claims.Claim(
    "proxy_keeps_knowledge", "the proxy keeps pretraining-only knowledge better than direct tuning (proxy - direct "
    "accuracy on the knowledge task)", "paper finding", "positive", 0.05,
    "one question in twenty: the paper's open-ended TruthfulQA margin at 70B is about that", UNIT,
    paper="proxy > direct (TruthfulQA true+info)")
STYLE_OVER_FACTS = claims.Claim(
    "style_over_facts", "tuning raises the probability of style words more than of the fact (proxy; content words "
    "of the pre-training corpus only: mean gain on the reply's wrapper words minus on the answer word)",
    "paper finding", "positive", 0.05,
    f"a twentieth of probability; the paper's GSM gap is {PAPER_STYLE_GAIN[0] - PAPER_STYLE_GAIN[1]:.3f}", UNIT,
    paper=f"{PAPER_STYLE_GAIN[0]} vs {PAPER_STYLE_GAIN[1]} (GSM)")
LOWER_LAYERS = claims.Claim(
    "direct_tuning_lower_layers", "direct tuning changes the lower half of the decoder layers more than the upper "
    "half (lower half's share of the summed per-layer relative weight change, minus 0.5)", "seed hypothesis",
    "positive", 0.05, "a 55/45 split of the change between the halves", UNIT, paper="lower layers (research note)")


def arms_by_seed(results: pd.DataFrame, alpha: float = 1.0) -> pd.DataFrame:
    """Per seed and task: base, proxy (at ``alpha``) and direct accuracy over the items."""
    r = results[results.arm.isin(["base", "proxy", "direct"])]
    r = r[(r.arm != "proxy") | np.isclose(r.alpha.fillna(-1), alpha)]
    return r.groupby(["seed", "task", "arm"]).correct.mean().unstack("arm").reset_index()


def _fmt(v: tuple) -> str:
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def gap_rows(results: pd.DataFrame, items_table: pd.DataFrame, alpha: float = 1.0,
             size: str = PAPER_SIZE) -> list[dict]:
    """Rule 1 per task and on average: gap closed per seed, (proxy - base) / (direct - base), its mean with a t
    interval over seeds, against the paper's figure for the task's nearest metric. Read only where direct
    tuning beats the base on every seed and on average (direct - base above 0 over seeds): otherwise there is
    no gap to close. The average row averages, seed by seed, the tasks that pass. The v1 verdicts read
    ``items_table`` (``gap_closed``: the bootstrap over items)."""
    by_seed = arms_by_seed(results, alpha)
    v1 = {r.task: verdict_gap(r.gap_closed, r.ci_low, r.dmb_low) for r in items_table.itertuples()}
    rows, passing = [], {}
    for task in TASKS:
        g = by_seed[by_seed.task == task]
        if g.empty:
            continue
        gain = claims.unit_mean(g.direct - g.base)
        with np.errstate(divide="ignore", invalid="ignore"):
            closed = ((g.proxy - g.base) / (g.direct - g.base)).replace([np.inf, -np.inf], np.nan)
        unmet = None
        if not (np.isfinite(gain[1]) and gain[1] > 0 and (g.direct > g.base).all()):
            unmet = f"direct tuning does not beat the base on every seed: direct - base {_fmt(gain)} over seeds"
        else:
            passing[task] = closed.to_numpy()
        # without a gain to recover the ratio is not a share of anything (both arms losing gives ratios over
        # 100%): the row reports no value, only why
        value = claims.unit_mean(closed) if unmet is None else (np.nan, np.nan, np.nan, None)
        rows.append(claims.row(gap_claim(task, size), *value, unmet=unmet, verdict_v1=v1.get(task),
                               note=f"direct - base {_fmt(gain)}; {len(g)} seeds"))
    if passing:
        mean = claims.unit_mean(np.mean(list(passing.values()), axis=0))
        rows.append(claims.row(gap_average_claim(size), *mean, note=f"over {', '.join(passing)}"))
    else:
        rows.append(claims.row(gap_average_claim(size), np.nan, np.nan, np.nan,
                               unmet="direct tuning beats the base on no task"))
    return rows


def knowledge_row(results: pd.DataFrame, v1: str, alpha: float = 1.0) -> dict:
    """Rule 2: proxy - direct accuracy on the knowledge task, per seed, read only if direct tuning forgot (base -
    direct above 0 over seeds): otherwise there was nothing to keep."""
    g = arms_by_seed(results, alpha)
    g = g[g.task == "knowledge"]
    forgot = claims.unit_mean(g.base - g.direct)
    unmet = None
    if not (np.isfinite(forgot[1]) and forgot[1] > 0):
        unmet = f"direct tuning did not forget: base - direct {_fmt(forgot)} over seeds is not above 0"
    _, p, d = PAPER_RESULTS[PAPER_SIZE]["TruthfulQA true+info"]
    return claims.row(KEEPS_KNOWLEDGE, *claims.unit_mean(g.proxy - g.direct), unmet=unmet, verdict_v1=v1,
                      paper_value=f"proxy - direct {(p - d) / 100:+.3f} (TruthfulQA true+info, {PAPER_SIZE})",
                      note=f"base - direct {_fmt(forgot)}")


def style_row(shift: pd.DataFrame, words: set[str], v1: str) -> dict:
    """Rule 3 on content words (``content_shift``): per seed, the mean over items of style gain minus fact gain
    under the proxy; a t interval over seeds."""
    per_item = content_shift(shift, words, "proxy")
    per_seed = per_item.groupby("seed").style_minus_fact.mean()
    style = per_item.groupby("seed")["style"].mean().mean()
    fact = per_item.groupby("seed")["fact"].mean().mean()
    return claims.row(STYLE_OVER_FACTS, *claims.unit_mean(per_seed), verdict_v1=v1,
                      note=f"style {style:.3f}, fact {fact:.3f}; {per_item.item.nunique()} items")


def layer_row(shares: list[float], tuned_loss: float, v1: str, restore_note: str = "") -> dict:
    """Rule 4: the lower half's share of direct tuning's weight change minus 0.5, one share per seed, read only
    if direct tuning lost at least ``MIN_TUNED_LOSS`` of closed-book top-1 (first seed): otherwise nothing was
    lost to locate. The restore test has one value per layer on one seed and no interval over a unit; it stays
    in the note."""
    est = claims.unit_mean(np.asarray(shares, dtype=float) - 0.5)
    unmet = None
    if not (np.isfinite(tuned_loss) and tuned_loss >= MIN_TUNED_LOSS):
        unmet = f"direct tuning lost {tuned_loss * 100:.1f} points of closed-book top-1 (< {MIN_TUNED_LOSS * 100:g})"
    return claims.row(LOWER_LAYERS, *est, unmet=unmet, verdict_v1=v1, note=restore_note)


def declared() -> list[claims.Claim]:
    """Every claim of the chapter, as the rules section lists them before their numbers."""
    return [*(gap_claim(t) for t in TASKS), gap_average_claim(), KEEPS_KNOWLEDGE, STYLE_OVER_FACTS, LOWER_LAYERS]


def scorecard(rows: list[dict], profile: str, track: str = "micro-world") -> pd.DataFrame:
    """The chapter's scorecard rows, all on one track."""
    return scorecards.frame(CHAPTER, [dict(r, track=track) for r in rows], profile)
