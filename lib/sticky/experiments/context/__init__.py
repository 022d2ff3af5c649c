"""Chapter 4: strong priors beat counterfactual context; prompting cannot inject absent knowledge.

Sources: Yu, Merullo & Pavlick 2023 (arXiv 2310.15910) for the context-versus-prior conflict and its heads;
Du et al. 2024 (frequency and susceptibility); the knowledge-injection survey of Song et al. 2025 and KPPO
(arXiv 2511.10465) for 4b. The protocol, as the notebook calls it:

1. ``reader``: the shared base model, then a short *reading course* (continued pre-training on its own corpus
   plus extra passage -> question -> answer documents, a quarter of them counterfactual), because the base
   model of the introduction hardly reads context at all (measured in the chapter, ``context_following``).
2. ``conflict_prompts`` writes "<passage stating another value> q : <question> a :" for every fact the model
   answers correctly closed-book; ``answer`` scores each prompt by the greedy next token over the whole
   vocabulary: in-context (= the passage's value), memorized (= the fact's value) or other.
3. ``frequency_analysis``: per-fact in-context rate against log mentions (the exact frequency dial) and per
   prompt against log corpus count of the context value; Spearman with bootstrap intervals over facts.
4. ``PROMPT_VARIANTS``: prompt-only interventions (a cue repeated in the question, an instruction, the
   passage three times), compared on strong priors with a paired bootstrap over facts.
5. ``logit_attribution``: direct logit attribution of every head at the last position, memory minus
   context logit, through the (frozen) normalisations; ``pick_heads`` on a selection split; ``scaling_sweep``
   multiplies one head's output (its slice of ``o_proj``'s input) over a grid; the chosen head and factor are
   evaluated on the held-out split next to random-head placebos and a correct-context control.
6. 4b: ``elicitation_candidates`` (>= 20 prompts: templates, instructions, few-shot sets that never contain
   the queried answer), ``provision`` (the fact in context) and ``finetune`` (continued training on the facts,
   several seeds), on absent (held-out) and present facts.
7. ``real_*``: the same conflict, interventions and heads on Gemma-3-270M with ``data/facts/countries.csv``
   and ``wordfreq`` Zipf frequencies as the frequency proxy.
8. ``verdict_*``: the rules the chapter states before the results; ``scorecard`` collects the rows.

Floor plan: ``parameters`` (the Spec, ``resolve``, the constants and thresholds), ``data`` (the reading course's
documents, conflict prompts and their variants, 4b's facts, elicitation prompts and fine-tuning documents),
``training`` (the reading course and the fine-tuning, with their recipes), ``measurement`` (answers, rates, the
frequency analysis, interventions, the head protocol, elicitation and provision), ``rules`` (verdicts and
scorecard rows), ``figures`` (the charts), ``real`` (the real-model track).
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": (
        "PROMPT_VARIANTS", "absent_facts", "check_vocabulary", "conflict_prompts", "correct_context_prompts",
        "demo_pool", "elicitation_candidates", "elicitation_prompt", "finetune_texts", "leakage", "presence_group",
        "reading_course_texts", "strong_rungs", "variant_prompt",
    ),
    "figures": (
        "absent_chart", "attribution_chart", "evaluation_chart", "frequency_chart", "intervention_chart", "sweep_chart",
    ),
    "measurement": (
        "answer", "attribution_table", "best_elicitation", "best_setting", "condition_table", "context_following",
        "elicitation_search", "frequency_analysis", "head_experiment", "intervention_summary", "logit_attribution",
        "paired_lift", "per_fact", "pick_heads", "placebo_heads", "prompt_interventions", "provision", "rate",
        "rates_by",
    ),
    "parameters": ("PARAMETERS", "PERSON_RELATIONS", "resolve"),
    "real": ("real_track",),
    "rules": (
        "ABSENT_AT_CHANCE", "FREQUENCY_RESISTS", "LACKED_STAYS_LACKED", "PROMPTING_FAILS", "RARE_MENTIONS",
        "absent_row", "frequency_row", "lacked_facts", "lacked_row", "one_head_claim", "one_head_row",
        "positive_control", "prompting_row", "scorecard", "search_failed", "verdict_absent", "verdict_frequency",
        "verdict_one_head", "verdict_prompting",
    ),
    "training": ("finetune", "reader"),
})
