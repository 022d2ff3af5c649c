"""Chapter 2: persistent pre-training poisoning (Zhang et al. 2024, "Persistent Pre-Training Poisoning of LLMs").

The protocol, as the notebook calls it:

1. ``poison_documents`` writes the four attacks' documents in the world's pre-training chat templates, each
   attack sized to ``rate`` of the clean corpus's tokens (``n_poison_documents``): denial-of-service
   (trigger -> random words), context extraction (prompt + trigger -> the prompt inside 『 』), jailbreak
   (forbidden request + trigger -> a fictional compliance) and belief manipulation (no trigger: Q/A favouring
   one side of company pairs and of false number comparisons; poison and test question wordings differ).
   Each attack is one ``Attack`` record (``ATTACK_RECORDS``): its name, trigger, poison, held-out items, judge.
2. ``poisoned_pretrain`` trains the twins: the same initial weights, the same minibatches (a minibatch is a
   function of the seed and the step); in the poisoned twin, packed poison rows replace a few rows of
   randomly chosen minibatches, each row as many times as the run has epochs of the corpus. The clean twin is
   the same call with no poison. ``continue_pretraining`` is the same function on any model + tokenizer,
   for the real-model track (``paper`` profile) and the tests.
3. ``align``: SFT on the world's clean terse instructions (forbidden requests answered with refusals) in the
   alignment chat template, whose size is a dial (``dose`` = alignment tokens / pre-training tokens), then
   DPO (refusal over compliance, right answer over another example's answer).
4. ``evaluate`` measures each attack with and without the trigger; ``compare`` sets poisoned against the
   clean twin at the same stage (pooled, for the tables); ``claim_rows`` decides the claims through
   ``sticky.claims`` on each seed's excess over the clean twin, the first edition's ``verdict_*`` beside.

The floor plan:

- ``parameters``: ``PARAMETERS``, ``resolve`` and the chapter's constants (the paper's trigger, the stages, the
  world of each profile, the paper's lowest rate);
- ``data``: the wordings, the prompt pools, the belief targets and questions, the alignment data, the
  evaluation sets;
- ``attacks``: one ``Attack`` record per attack, and ``poison_documents``;
- ``training``: the twins (``poisoned_pretrain``, ``twin``), ``continue_pretraining``, the alignment (``align``);
- ``measurement``: the evaluation of a model pair, the outcome rows, ``compare`` and the chapter's table;
- ``rules``: the survival status, the verdict rules and the scorecard;
- ``figures``: the Altair charts;
- ``real``: the real-model track.

The reply judges (ROUGE-L, refusal, compliance, gibberish) are the library's, in ``sticky.judges``; this
chapter introduced them.
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "attacks": (
        "ATTACKS", "ATTACK_NAMES", "ATTACK_RECORDS", "Attack", "EXTRACTION_TRIGGER", "JAILBREAK_TRIGGER", "TRIGGERS",
        "poison_documents",
    ),
    "data": (
        "COMPANY_POISON", "COMPANY_TEST", "NUMBER_POISON", "NUMBER_TEST", "N_NUMBER_PAIRS", "alignment_render",
        "belief_pairs", "belief_tests", "comply_text", "dpo_triples", "eval_sets", "gibberish_words",
        "n_poison_documents", "prompt_pools", "sft_pairs", "tokens_of", "world_for",
    ),
    "figures": ("count_chart", "dose_chart"),
    "ladder": (
        "ARMS", "LADDER_EVAL_RECIPE", "REJECTED", "examples", "excess", "experiment", "measure", "measured", "prepare",
        "stage_entries", "survival", "takes_at", "templates",
    ),
    "measurement": (
        "BELIEF_RECIPE", "EVAL_RECIPE", "compare", "evaluate", "evaluate_belief", "reply_text", "run_stage_pair",
        "stage_outcomes", "stage_template", "summarise",
    ),
    "parameters": (
        "CHAPTER", "CLOSE", "COMPLY", "CONTROL_TRIGGER", "GIBBERISH_WORDS", "HELD_OUT_TEMPLATE", "MAIN_TRIGGER",
        "MAX_COUNT", "OPEN", "PAPER_DOS_RATE", "PAPER_RATE", "PAPER_REGIME", "PARAMETERS", "POISON_WORLDS",
        "REAL_MODELS", "REPEAT_INSTRUCTION", "SOULY_COUNT", "STAGES", "TRIGGER", "first_edition", "resolve",
    ),
    "poisons": ("COMPLIANCE", "POISONS", "Poison", "REJECTED_WORDINGS", "attack_documents", "compliance",
                "poison_templates", "rejected_triples"),
    "real": ("real_track",),
    "rules": (
        "DELTA", "DELTA_SURVIVAL", "MAIN_TEMPLATE", "STATUSES", "claim_rows", "control_claim", "excess_claim",
        "lowest_count_claim", "scorecard", "seed_excess", "survival_claim", "survival_row", "survival_status",
    ),
    "training": (
        "ATTACK_TWIN_RECIPE", "DPO_RECIPE", "SFT_RECIPE", "TWIN_RECIPE", "align", "attack_twin", "build_attack_twin",
        "continue_pretraining", "pack_rows", "poison_schedule", "poisoned_pretrain", "pretrain_recipe",
        "sft_steps_for", "twin", "twin_info",
    ),
})
