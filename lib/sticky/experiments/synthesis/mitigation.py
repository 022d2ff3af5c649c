"""Part 7, ignore-k: does a priming mitigation applied while the backdoors are planted lower their persistence, at
matched planting?

Ignore-k (Sun et al. 2025; chapter 1) undoes each step's largest updates. In the arm, both twins of a seed (clean
and poisoned, the same design, the same minibatches) are pre-trained with it; the effects are then measured and
aligned exactly as in the ladder (``analysis.effects``). Ignore-k also lowers how much is planted, and a backdoor
planted less strongly may persist differently for that reason alone; the matched-planting control compares
persistence at equal effect before alignment: within each seed, least squares on the backdoors that took in either
arm, persistence ~ arm + effect before alignment + the design's terms, and the arm's coefficient is the seed's
value. The backdoors' two exposure counts make the planted effect vary inside each arm, which is what the control
leans on; the overlap of the two arms' effects is printed beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MATCHED = "persistence ~ ignore_k + effect_before + log2_exposures + C(coverage) + C(kind)"


def paired(standard: pd.DataFrame, pruned: pd.DataFrame) -> pd.DataFrame:
    """Per seed, ignore-k minus standard planting (``analysis.effects`` of each arm, the same backdoors): the mean
    change in the effect before alignment and in the spread (every backdoor), the mean change in persistence (the
    backdoors that took in both arms), and the change at matched planting (``MATCHED``'s ``ignore_k``
    coefficient; nan when the seed has too few backdoors that took to fit it)."""
    import statsmodels.formula.api as smf

    on = ["seed", "backdoor"]
    both = standard.merge(pruned, on=on, suffixes=("", "_k"))
    rows = []
    for seed, g in both.groupby("seed"):
        took = g.took & g.took_k
        stacked = pd.concat([standard[standard.seed == seed].assign(ignore_k=0.0),
                             pruned[pruned.seed == seed].assign(ignore_k=1.0)])
        stacked = stacked[stacked.took]
        ok = stacked.ignore_k.nunique() == 2 and len(stacked) > 10
        matched = float(smf.ols(MATCHED, stacked).fit().params["ignore_k"]) if ok else float("nan")
        rows.append(dict(seed=seed, planting=float((g.effect_before_k - g.effect_before).mean()),
                         spread=float((g.spread_k - g.spread).mean()),
                         persistence=float((g.persistence_k - g.persistence)[took].mean()) if took.any() else np.nan,
                         matched=matched, effect_standard=float(g.effect_before.mean()),
                         effect_pruned=float(g.effect_before_k.mean())))
    return pd.DataFrame(rows)
