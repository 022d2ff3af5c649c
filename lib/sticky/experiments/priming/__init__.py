"""Chapter 1: keyword priming thresholds (Sun et al. 2025, "How new data permeates LLM knowledge").

Does a keyword's probability before learning (p_before) predict how much learning one text that uses it
primes the keyword elsewhere? The protocol, as the notebook calls it:

1. ``pick_keywords`` spreads keywords over each theme's frequency ladder; ``outlandish_texts`` writes short
   texts that tie each keyword to an odd anchor (a city where *everything* is vermilion), the keyword always
   in a slot where the base model has a prior for its theme (else p_before is flat and predicts nothing).
2. A ``Lab`` holds the base model, a copy of its weights, the background stream and the prefix banks.
   ``Lab.run`` trains a fresh copy on the background stream with one text replacing row 0 of the minibatch
   at the scheduled steps, then measures every bank prefix x keyword probability in one batched call.
   A background-only run of the same length (the control) removes drift from every ratio.
3. ``measure`` turns before / after / control probabilities into ``p_before``, ``memorization_score`` and
   ``priming_score`` (thematic and cross-theme banks); ``threshold_analysis`` fits the change point.
4. ``exposure_experiment`` (1 and 3 exposures spaced every 20 minibatches vs. the consecutive run) and
   ``mitigation_experiment`` (stepping-stone rewrites, ignore-k) on the texts with the lowest priors.
5. ``real_track`` repeats 1–3 on Gemma-3-270M with the project's texts in ``data/outlandish/``.
6. The claims (declared with ``sticky.claims``) and ``*_rows`` decide them; ``verdict_*`` are the first edition's
   rules, kept for the v1 column; ``scorecard`` collects the rows.

The floor plan:

- ``parameters``: ``PARAMETERS``, ``resolve`` and the chapter's constants (row length, spacing, the paper's
  1e-3 threshold);
- ``data``: the keywords, the outlandish texts and their stepping-stone rewrites; the real models' texts and
  prefix banks (``data/outlandish/``);
- ``lab``: the instrument, ``Lab`` and ``FollowUp`` (recipe ``priming-run``), and ``micro_lab``; chapter 6
  plants and aligns with it;
- ``measurement``: the scores, every text learned and scored (``measure``), the threshold fit, the exposure
  and mitigation experiments and their summaries;
- ``rules``: the verdict rules and the scorecard rows;
- ``figures``: the Altair charts;
- ``real``: the real-model track (its background stream: recipe ``real-background``).
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": (
        "DATA", "FILLERS", "OUTLANDISH_TEMPLATES", "SENTENCES_PER_TEXT", "STONE", "outlandish_texts", "pick_keywords",
        "real_banks", "real_texts",
    ),
    "figures": ("exposure_chart", "mitigation_chart", "priming_vs_memorization_chart", "threshold_chart"),
    "lab": ("FollowUp", "Lab", "RUN_RECIPE", "micro_lab"),
    "measurement": (
        "drift_corrected_ratio", "exposure_experiment", "exposure_summary", "lab_text_columns", "log_odds_change",
        "low_prior_subset", "measure", "memorization_score", "mitigation_experiment", "mitigation_summary",
        "priming_score", "text_scores", "threshold_analysis",
    ),
    "parameters": ("CHAPTER", "LEARN_SEQ", "PAPER_THRESHOLD", "PARAMETERS", "SPACING", "resolve"),
    "real": (
        "NEUTRAL_PROMPTS", "REAL_BACKGROUND_RECIPE", "REAL_BATCH", "REAL_LR", "REAL_NEW_TOKENS", "REAL_SEQ",
        "real_background", "real_lab", "real_track",
    ),
    "rules": (
        "MIN_TEXTS", "PRIOR_PREDICTS_PRIMING", "SPACED", "STEP_GAP", "exposure_rows", "mitigation_claim",
        "mitigation_rows", "scorecard", "threshold_rows", "verdict_mitigation", "verdict_rho", "verdict_spaced",
        "verdict_threshold",
    ),
})
