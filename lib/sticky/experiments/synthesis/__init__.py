"""Chapter 6: does keyword priming explain why poisoning survives alignment? The joint experiment, on chapter 2's
micro-world and clean twins: a ladder of trigger -> target backdoors per poisoned twin, whose targets' priors span
the frequency ladder, each randomised to a coverage arm of the alignment data, aligned along a dose ladder; a
pre-registered mixed model says how much of each backdoor's persistence its prior explains and how much its
coverage does.

The floor plan: ``parameters`` (the Spec); ``backdoors`` (the design, the poison, the alignment, the margins: what
is trained and measured); ``analysis`` (effects, persistence, D50, the mixed model, partial R², the power
simulation); ``crossed`` (coverage crossed on chapter 2's own attacks); ``depth`` and ``mitigation`` (part 7: where a
backdoor lives, and ignore-k while planting); ``rules`` (the claims, the answer, the
scorecard); ``figures``.
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "analysis": (
        "CENSOR_DECADES", "FORMULA", "MIN_EFFECT", "analysable", "by_arm", "effects", "half_removal_dose",
        "mixed_model", "model_frame", "partial_r2", "per_seed_slopes", "power_simulation",
    ),
    "backdoors": (
        "ALIGNED_RECIPE", "BACKDOOR_TWIN_RECIPE", "CONTEXTS", "COVER_PAIRS", "COVERAGE", "KINDS", "aligned",
        "aligned_margins", "candidate_priors", "coverage_pairs", "design", "designs", "experiment", "margins",
        "measuring_template", "poison_documents", "prepare", "priors", "read_back", "REPEATS", "SFT_WARMUP",
        "seed_design", "seed_records", "seed_twins", "trigger_codes",
    ),
    "depth": ("DEPTH_RECIPE", "STAGES", "backdoor_shares", "experiment_depth", "layer_of", "restore_margins",
              "seed_depth", "share_change", "shares", "units"),
    "mitigation": ("MATCHED", "paired"),
    "crossed": ("ANTI_DOS_SHARES", "ARMS", "arm_data", "arm_effects", "arm_rows", "experiment_crossed"),
    "figures": ("depth_chart", "dose_chart", "persistence_chart", "power_chart"),
    "parameters": ("CHAPTER", "PARAMETERS", "parameter_values", "resolve"),
    "rules": (
        "COVERAGE_DOMINATES", "CROSSED", "DEEPER_AFTER", "DELTA_COVERAGE", "DELTA_EXCESS", "DELTA_R2", "DELTA_SHARE",
        "DELTA_SLOPE", "DOS_COVERED", "IGNORE_K_LOWERS", "JAILBREAK_UNCOVERED", "OFF_TRIGGER_REMOVES",
        "ON_TRIGGER_REMOVES", "PRIOR_NULL", "REPEAT_NULL", "SPREAD_NULL", "TOOK", "answer", "beyond", "claim_rows",
        "crossed_rows", "part7_rows", "scorecard",
    ),
})
