"""Chapter 3: where cognitive biases come from (Itzhak, Belinkov, Stanovsky 2025, "Planted in Pretraining,
Swayed by Finetuning").

Are a model's cognitive biases set by its pre-trained backbone or by its instruction data? Two backbones are
planted with different bias profiles, each is fine-tuned on each of two instruction sets with several seeds
(cross-tuning), and every tuned model answers a held-out bias battery: the models should group by backbone.
The same battery, in natural English, runs on real models, and the ``paper`` profile repeats the
cross-tuning on two real backbones.

The package, in the order the notebook calls it:

- ``parameters``: ``PARAMETERS``, ``resolve``, the planted profiles, the paper's values;
- ``data``: the seven biases (``BIAS_TYPES``), the planted documents, the instruction sets with their bias
  examples, the probe battery;
- ``training``: the backbones, the tuned models, the cross-tuning, the dose sweep and its uncrossed variant
  against the backbones (recipes ``bias-backbone``, ``bias-sft``);
- ``measurement``: the bias scores, a micro-world model measured on the battery (recipe ``bias-measure``),
  the grouping and seed analyses;
- ``rules``: the gate, the claims, their statistics per cell, the scorecard rows (and the v1 rules);
- ``figures``: the Altair charts;
- ``real``: the real-model track (the English battery, the real cross-tuning; recipes ``bias-real``,
  ``bias-real-tuned``), reached as ``biases.real``.
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": (
        "BIASES", "BIAS_TYPES", "CHAT_STYLES", "HIGH_ANCHORS", "LOW_ANCHORS", "PROBE_TEMPLATE", "bias_documents",
        "common_foods", "fill", "instruction_examples", "instruction_set", "options", "planted_answer", "probe_items",
    ),
    "figures": ("against_chart", "dose_chart", "heatmap_chart", "pca_chart", "seed_chart"),
    "measurement": (
        "bias_means", "choice_score", "expected_value", "grouping_analysis", "measure_entry", "measure_micro",
        "model_vectors", "option_share", "pca_frame", "ratio_scale_score", "scenario_scores", "seed_analysis",
    ),
    "parameters": (
        "BACKBONE_SEQ", "CHAPTER", "PAPER", "PARAMETERS", "PROFILE_A", "PROFILE_B", "PROFILE_CHATTY", "PROFILE_TERSE",
        "SEQ_LEN", "direction_cosine", "parse_profile", "resolve",
    ),
    "rules": (
        "DOSE_TIPS", "FRAMING", "GROUPING_KMEANS", "GROUPING_SILHOUETTE", "SEEDS_MODERATE", "SURVIVES_OPPOSING",
        "against_differences", "against_rows", "cell_coclustering", "cell_seed_ratios", "cell_silhouettes",
        "cell_vectors", "dose_rows", "exposure_ratio", "flip_exposures", "gate_passes", "grouping_rows",
        "opposing_tested", "profile_gate", "real_framing_rows", "scorecard", "seed_ratio", "seed_rows", "sweep_cells",
        "tipping_exposure", "verdict_grouping", "verdict_real", "verdict_seeds",
    ),
    "training": ("against_sweep", "backbone", "cross_tune", "dose_sweep", "tuned"),
}, modules=("real",))
