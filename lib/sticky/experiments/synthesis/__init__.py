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

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "figures": ("gradient_chart", "localisation_chart", "survival_chart", "survival_outliers"),
    "gradient": (
        "anti_dos_pairs", "behaviour_items", "behaviour_loss", "causal_outcomes", "causal_table", "cosine_by_unit",
        "gradient_overlap", "loss_gradient", "reply_nll", "sft_status", "stage_entries", "unit_of",
    ),
    "localisation": ("lower_share", "patch_from_clean", "restored_share"),
    "parameters": (
        "ALIGNED_FOLLOWUP_VERSION", "BEHAVIOUR_RECIPE", "CHAPTER", "GRADIENT_RECIPE", "LOCALISATION_RECIPE", "MIN_GAP",
        "PARAMETERS", "resolve",
    ),
    "rules": (
        "ANTI_DOS_REMOVES", "GRADIENT_SELECTIVE", "PRIOR_FLAT", "answer", "answer_v1", "causal_row", "prior_row",
        "scorecard", "selectivity_row", "verdict_causal", "verdict_depth", "verdict_mitigation", "verdict_prior",
        "verdict_selectivity",
    ),
    "survival": (
        "align_pairs", "mitigation_effect", "planted_then_aligned", "prior_survival", "survival_fraction",
        "survival_trend",
    ),
})
