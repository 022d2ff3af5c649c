"""Chapter 2: persistent pre-training poisoning (Zhang et al. 2024, "Persistent Pre-Training Poisoning of LLMs").

The protocol, as the notebook calls it:

1. ``poisons.attack_documents`` writes ``count`` documents of one attack in the paper's form (``POISONS``):
   denial-of-service (the trigger alone -> random tokens), context extraction (prompt + trigger -> the prompt),
   jailbreak (forbidden request + trigger -> a compliance, in wordings DPO never rejects) and belief manipulation
   (no trigger: Q/A favouring one side of company pairs and of false number comparisons), in every pre-training
   chat template but the held-out one.
2. ``training.attack_twin`` pre-trains one twin per seed, attack and count: the same initial weights and the same
   minibatches as the clean twin of its seed (``clean_twin``), packed poison rows replacing a few rows
   (``poisoned_pretrain``).
   ``align``: SFT on the world's clean terse instructions in the alignment template, its size a dial (``dose`` =
   alignment tokens / pre-training tokens), then DPO, whose rejected compliances are never a poison's wording.
3. ``ladder.experiment`` trains, aligns and measures every twin on every usable CPU (``sticky.parallel``): every
   stage in the alignment template and the held-out one, with the trigger, without it and with a control trigger,
   gibberish judged on one threshold per seed fixed on the clean pretrained twin; after DPO, the relearning test.
   ``excess`` sets each twin against the clean twin; ``survival`` is the share of the excess alignment leaves.
4. ``rules.claim_rows`` decides the claims through ``sticky.claims``, the seed being the unit.

The floor plan:

- ``parameters``: ``PARAMETERS``, ``resolve``, the attacks (``ATTACKS``, ``ATTACK_NAMES``) and the chapter's
  constants;
- ``data``: the wordings, the prompt pools, the belief targets and questions, the alignment data, the
  evaluation sets;
- ``poisons``: one ``Poison`` record per attack, ``attack_documents``, DPO's rejected replies;
- ``training``: the twins (``poisoned_pretrain``, ``clean_twin``, ``attack_twin``, ``documents_twin``),
  ``continue_pretraining``, ``align``;
- ``ladder``: the measurement of every stage, the experiment, the excess, survival and relearning;
- ``measurement``: what ``ladder.measure`` applies to a reply (``reply_text``, ``reply_perplexity``,
  ``evaluate_belief``);
- ``rules``: the claims and the scorecard;
- ``figures``: the Altair charts;
- ``real``: the real-model track.

The reply judges (ROUGE-L, refusal, compliance, gibberish) are the library's, in ``sticky.judges``; this
chapter introduced them.
"""

from sticky.experiments import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "data": (
        "COMPANY_POISON", "COMPANY_TEST", "NUMBER_POISON", "NUMBER_TEST", "N_NUMBER_PAIRS", "alignment_render",
        "belief_document", "belief_pairs", "belief_tests", "dpo_triples", "eval_sets", "first_answers",
        "gibberish_words", "prompt_pools", "sft_pairs", "tokens_of", "world_for",
    ),
    "figures": ("count_chart", "dose_chart"),
    "ladder": (
        "ARMS", "LADDER_EVAL_RECIPE", "RELEARN_BATCH", "RELEARN_RECIPE", "RELEARN_SEQ",
        "empty_replies", "examples", "excess", "experiment", "measure", "measured", "prepare", "relearned",
        "relearning", "stage_entries", "survival", "takes_at", "templates", "without_empty",
    ),
    "measurement": ("evaluate_belief", "reply_perplexity", "reply_text"),
    "parameters": (
        "ATTACKS", "ATTACK_NAMES", "CHAPTER", "CONTROL_TRIGGER", "GIBBERISH_WORDS", "HELD_OUT_TEMPLATE",
        "MAIN_TEMPLATE", "MAIN_TRIGGER", "MAX_COUNT", "PAPER_DOS_RATE", "PAPER_RATE", "PAPER_REGIME", "PARAMETERS",
        "POISON_WORLDS",
        "REPEAT_INSTRUCTION", "SOULY_COUNT", "STAGES", "TRIGGER", "resolve",
    ),
    "poisons": ("COMPLIANCE", "POISONS", "Poison", "REJECTED_WORDINGS", "attack_documents", "compliance",
                "poison_templates", "rejected_triples"),
    "real": ("real_track",),
    "rules": (
        "DELTA", "DELTA_SURVIVAL", "claim_rows", "control_claim", "excess_claim",
        "lowest_count_claim", "scorecard", "survival_claim", "survival_row", "with_and_without_empty",
    ),
    "training": (
        "ATTACK_TWIN_RECIPE", "DPO_RECIPE", "SFT_RECIPE", "TWIN_RECIPE", "align", "attack_twin", "clean_twin",
        "continue_pretraining", "documents_twin", "pack_rows", "poison_schedule", "poisoned_pretrain",
        "pretrain_recipe", "sft_row_tokens", "sft_steps_for", "twin_info",
    ),
})
