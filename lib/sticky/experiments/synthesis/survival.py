"""Parts 1 and 3: chapter 1's keyword poisons planted, then aligned; the share of the planted effect that
survives, against the prior; ignore-k while planting."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import trim_mean

from sticky import seeds, stats, train
from sticky.experiments import poisoning, priming

from .parameters import ALIGNED_FOLLOWUP_VERSION


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
    out = {"n": len(took), "n_all": len(res)}
    for name, (x, y) in {"survival": (log_p(took), took[f"{score}_survival"].to_numpy()),
                         "planted": (log_p(res), np.log10(res[f"{score}_score_learned"].to_numpy()))}.items():
        r, lo, hi = (stats.bootstrap(x, y, stats.spearman_rho, n_resamples=n_resamples, seed=seed) if len(x) >= 4
                     else (np.nan,) * 3)
        out |= {f"rho_{name}": r, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    survival = took[f"{score}_survival"].to_numpy()
    # a share can explode when the planted effect is small: the median and the 10% trimmed mean beside the mean
    out |= {"survival_mean": float(np.mean(survival)) if len(took) else np.nan,
            "survival_median": float(np.median(survival)) if len(took) else np.nan,
            "survival_trimmed": float(trim_mean(survival, 0.1)) if len(took) else np.nan}
    # the same rho with the keyword as the unit (a keyword's texts share its prior), for the claim's interval
    out["keywords"] = took.keyword.nunique()
    lo = hi = np.nan
    if len(took) >= 4:
        _, lo, hi = stats.cluster_bootstrap(stats.spearman_rho, log_p(took), took[f"{score}_survival"].to_numpy(),
                                            units=took.keyword.to_numpy(), n_resamples=n_resamples, seed=seed)
    return out | {"rho_survival_kw_low": lo, "rho_survival_kw_high": hi}


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
