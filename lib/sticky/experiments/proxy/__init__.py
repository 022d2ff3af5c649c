"""Chapter 5: proxy-tuning (Liu et al. 2024, "Tuning Language Models by Proxy").

At every decoding step, with a large base M, a small tuned expert M+ and the small untuned anti-expert M-
sharing one vocabulary, the next token is the argmax of

    s_M + alpha * (s_M+ - s_M-)        (raw logits; alpha = 1 in the paper)

and the chosen token is appended for all three, each of which keeps its own KV cache. Only the expert sees
the chat template; the base and the anti-expert see the plain prompt.

The protocol, as the notebook calls it:

1. ``split_facts`` halves the world's facts (both halves spanning the mention ladder): the *tuning* half may
   appear in the instruction data, the *pretraining-only* half never does; ``sft_pairs`` is the world's
   chatty instruction set with the other half's fact questions removed.
2. ``tune`` fine-tunes a base on those pairs in the alignment template (cached): the small base gives the
   expert, the large base the directly tuned model, with the same recipe.
3. ``eval_items`` writes the three tasks (instruction following, closed-book knowledge on pretraining-only
   facts, counting); ``run_arms`` decodes every item greedily with the four arms (base, expert, proxy,
   direct) through ``decode`` and scores it; ``gap_closed`` and ``alpha_sweep`` summarise.
4. ``token_shift`` (probability gain of style vs fact tokens on reference answers; ``content_shift`` keeps the
   ``content_words`` that the bases produce too), ``weight_change``, ``logit_lens`` and ``layer_restore`` test
   where tuning acts.
5. ``benchmark``: proxy decoding with three KV caches vs naive recomputation vs the large base alone.
6. ``real_track``: the same decoding on a hub family sharing one vocabulary (GPU profile).
7. The claims (declared with ``sticky.claims``; gap closed per task against ``PAPER_RESULTS``' nearest metric)
   and ``*_row(s)`` decide them over seeds (each with its own bases); ``verdict_*`` are the first edition's rules, whose
   verdicts the scorecard keeps beside the new ones; ``scorecard`` collects the rows.

The floor plan:

- ``parameters``: ``PARAMETERS``, ``resolve`` and the chapter's constants (``TASKS``, ``ARMS``, the paper's results);
- ``ensemble``: the proxy's logit arithmetic (a ``combine`` of ``sticky.decoding.decode``) and teacher forcing;
- ``data``: the fact split, the instruction styles and set, the evaluation items;
- ``training``: ``tune`` (the expert and the direct arm, one recipe) and ``Arms``, the models of one seed;
- ``measurement``: the scores, every arm on the items, the summaries, the knowledge curves, the benchmark;
- ``localisation``: where tuning acts (token shift, weight change, logit-lens readout, restoring one layer);
- ``rules``: the claims, the rows that decide them, the v1 verdict rules and the scorecard;
- ``figures``: the Altair charts;
- ``real``: the real-model track.

The decoding loop (``sticky.decoding.decode``: one KV cache per model, any ``combine``) and the logit lens
(``sticky.hooks.logit_lens``) are the library's; this chapter introduced them.
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": ("STYLES", "alignment_render", "eval_items", "sft_pairs", "split_facts", "value_domain"),
    "ensemble": ("forced_logprobs", "proxy_combine", "proxy_logits"),
    "figures": (
        "alpha_chart", "arms_chart", "bench_chart", "change_chart", "curves_chart", "knowledge_chart", "lens_chart",
        "restore_chart", "shift_chart",
    ),
    "localisation": (
        "fact_prompts", "knowledge_readout", "layer_restore", "lens_table", "shift_summary", "token_classes",
        "token_shift", "weight_change",
    ),
    "measurement": (
        "EVAL_RECIPE", "accuracy_table", "alpha_table", "benchmark", "content_shift", "content_words", "contrast",
        "decoding_speed", "gap_closed", "gap_closed_by_seed", "gap_closed_value", "generate", "knowledge_by_mentions",
        "knowledge_curves", "knowledge_retention", "run_arms", "run_seeds", "score", "score_counting",
        "score_instruction", "score_knowledge",
    ),
    "parameters": (
        "ARMS", "CHAPTER", "PAPER_GAP_CLOSED", "PAPER_RESULTS", "PAPER_SIZE", "PAPER_STYLE_GAIN", "PAPER_TASK",
        "PARAMETERS", "TASKS", "paper_gap_closed", "paper_gap_closed_average", "resolve",
    ),
    "real": ("real_items", "real_track", "same_vocabulary"),
    "rules": (
        "KEEPS_KNOWLEDGE", "LOWER_LAYERS", "STYLE_OVER_FACTS", "arms_by_seed", "declared", "gap_average_claim",
        "gap_claim", "gap_rows", "knowledge_row", "layer_row", "lower_half_share", "lower_layer_evidence", "scorecard",
        "style_row", "verdict_gap", "verdict_knowledge", "verdict_lower_layers", "verdict_style",
    ),
    "training": ("Arms", "TUNE_RECIPE", "tune"),
})
