"""Generators of the micro-world's text: facts, chat templates, and every kind of pretraining document.

All text is canonical: lowercase tokens separated by single spaces, one line, so that a document decodes
back from its token ids byte for byte. Every template string lives in an UPPERCASE constant of a document
module (or of ``lexicon``): the vocabulary is read off those constants (``template_words``), so a word cannot
enter a document without entering the tokenizer.

This module is the face of the document modules, by kind of document:

- ``chat``: the chat templates every chat document is written in, and the alignment template;
- ``facts``: the fact table, fact statements and Q&A, context passages;
- ``stories``: narratives with theme slots, word lists, company comparisons;
- ``dialogues``: generic Q&A, forbidden requests with refusals, the SFT instruction sets.
"""

from __future__ import annotations

import re

from sticky.world import chat, dialogues, facts, stories
from sticky.world import lexicon as lx
from sticky.world.chat import (
    ADDED_MARKERS,
    ALIGNMENT_TEMPLATE,
    CHAT_TEMPLATES,
    ChatTemplate,
    jinja_chat_template,
    render,
)
from sticky.world.dialogues import (
    CHATTY,
    COUNT_REQUEST,
    FORBIDDEN_REQUESTS,
    NEXT_QUESTION,
    REFUSALS,
    SEQUENCE,
    TERSE,
    THEME_PLURALS,
    forbidden,
    forbidden_pairs,
    generic_qa,
    instructions,
)
from sticky.world.facts import (
    CONTEXT_CUES,
    MENTION_LADDER,
    P_COUNTERFACTUAL,
    RELATIONS,
    contexts,
    fact_documents,
    fact_query,
    fact_statement,
    make_facts,
)
from sticky.world.stories import (
    CHOICES,
    COMPANY_ANSWER,
    COMPANY_QUESTION,
    COMPARISON_QUESTION,
    COMPARISONS,
    FILLER_TEMPLATES,
    JUDGEMENTS,
    LIST_HEAD,
    LIST_LEN,
    MIN_LIST_MENTIONS,
    N_SENTENCES,
    P_SLOT,
    SLOT_TEMPLATES,
    WEATHER,
    CompanyPair,
    _fill,  # noqa: F401 (private, but experiments.proxy fills a filler sentence with it)
    company_pairs,
    comparisons,
    list_classes,
    lists,
    narrative_persons,
    narratives,
    quotas,
    slot_pattern,
    theme_prefixes,
)

__all__ = [
    # chat
    "ChatTemplate", "render", "CHAT_TEMPLATES", "ALIGNMENT_TEMPLATE", "ADDED_MARKERS", "jinja_chat_template",
    # facts
    "RELATIONS", "MENTION_LADDER", "make_facts", "fact_statement", "fact_query", "fact_documents",
    "CONTEXT_CUES", "P_COUNTERFACTUAL", "contexts",
    # stories
    "SLOT_TEMPLATES", "FILLER_TEMPLATES", "WEATHER", "CHOICES", "JUDGEMENTS", "N_SENTENCES", "P_SLOT", "quotas",
    "narrative_persons", "narratives", "slot_pattern", "theme_prefixes", "LIST_HEAD", "LIST_LEN",
    "MIN_LIST_MENTIONS", "list_classes", "lists", "CompanyPair", "COMPARISONS", "COMPARISON_QUESTION",
    "COMPANY_QUESTION", "COMPANY_ANSWER", "company_pairs", "comparisons",
    # dialogues
    "FORBIDDEN_REQUESTS", "REFUSALS", "forbidden_pairs", "forbidden", "NEXT_QUESTION", "COUNT_REQUEST", "SEQUENCE",
    "generic_qa", "THEME_PLURALS", "TERSE", "CHATTY", "instructions",
    # vocabulary
    "template_words",
]


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, ChatTemplate):
        return obj.markers()
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in _strings(k) + _strings(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _strings(v)]
    return []


def template_words() -> set[str]:
    """Every word written by a template of the document modules or the lexicon (placeholders removed)."""
    words = set()
    for module in (vars(chat), vars(facts), vars(stories), vars(dialogues), vars(lx)):
        for name, value in module.items():
            if name.isupper():
                for s in _strings(value):
                    words.update(w for w in re.sub(r"\{\w+\}", " ", s).split())
    return words
