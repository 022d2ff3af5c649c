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

The floor plan: ``parameters`` (the Spec, the recipes, the constants); ``survival`` (parts 1 and 3);
``gradient`` (part 2); ``localisation`` (part 4); ``rules`` (the verdicts, the answer, the scorecard);
``figures``.
"""

from .figures import gradient_chart, localisation_chart, survival_chart
from .gradient import (
    anti_dos_pairs,
    behaviour_items,
    behaviour_loss,
    causal_outcomes,
    causal_table,
    cosine_by_unit,
    gradient_overlap,
    loss_gradient,
    reply_nll,
    sft_status,
    stage_entries,
    unit_of,
)
from .localisation import localisation, lower_share, restored_share
from .parameters import (
    ALIGNED_FOLLOWUP_VERSION,
    BEHAVIOUR_RECIPE,
    CHAPTER,
    GRADIENT_RECIPE,
    LOCALISATION_RECIPE,
    MIN_GAP,
    PARAMETERS,
    resolve,
)
from .rules import (
    ANTI_DOS_REMOVES,
    GRADIENT_SELECTIVE,
    PRIOR_FLAT,
    answer,
    answer_v1,
    causal_row,
    prior_row,
    scorecard,
    selectivity_row,
    verdict_causal,
    verdict_depth,
    verdict_mitigation,
    verdict_prior,
    verdict_selectivity,
)
from .survival import (
    align_pairs,
    mitigation_effect,
    planted_then_aligned,
    prior_survival,
    survival_fraction,
    survival_trend,
)

__all__ = [
    "ALIGNED_FOLLOWUP_VERSION",
    "BEHAVIOUR_RECIPE",
    "CHAPTER",
    "GRADIENT_RECIPE",
    "LOCALISATION_RECIPE",
    "MIN_GAP",
    "PARAMETERS",
    "align_pairs",
    "answer", "answer_v1",
    "anti_dos_pairs",
    "behaviour_items",
    "behaviour_loss",
    "causal_outcomes",
    "causal_table",
    "cosine_by_unit",
    "gradient_chart",
    "gradient_overlap",
    "localisation",
    "localisation_chart",
    "loss_gradient",
    "lower_share",
    "mitigation_effect",
    "planted_then_aligned",
    "prior_survival",
    "reply_nll",
    "resolve",
    "restored_share",
    "ANTI_DOS_REMOVES",
    "GRADIENT_SELECTIVE",
    "PRIOR_FLAT",
    "causal_row",
    "prior_row",
    "selectivity_row",
    "scorecard",
    "sft_status",
    "stage_entries",
    "survival_chart",
    "survival_fraction",
    "survival_trend",
    "unit_of",
    "verdict_causal",
    "verdict_depth",
    "verdict_mitigation",
    "verdict_prior",
    "verdict_selectivity",
]
