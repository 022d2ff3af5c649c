"""The first edition's four attacks (Zhang et al. 2024), all in one model, one ``Attack`` record each: its name as
the paper says it, its trigger, how its poison documents are written, how its held-out evaluation items are
written, and its judge. ``poison_documents`` writes every attack's poison for one first-edition twin. Chapter 6
traces these twins until its redesign (issue #18); chapter 2 plants one attack per model (``poisons``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from sticky import judges, seeds
from sticky.world import documents as docs
from sticky.world import render

from .data import (
    belief_document,
    belief_pairs,
    comply_text,
    first_answers,
    gibberish_words,
    prompt_pools,
    tokens_of,
)
from .parameters import CLOSE, GIBBERISH_WORDS, OPEN, TRIGGER

# One poisoned model carries all four attacks (the paper trains one per attack), so each triggered attack has its
# own trigger: with one trigger, denial-of-service and extraction would teach two replies to the same prompt.
EXTRACTION_TRIGGER = " ".join(["』"] * 10)
JAILBREAK_TRIGGER = " ".join(["『"] * 10)


@dataclass(frozen=True)
class Attack:
    """One attack. ``poison(template, rng, material, i)`` writes the ``i``-th poison document in a pre-training
    chat template (``material``: the prompt pools, the gibberish words and the belief pairs of the seed);
    ``items(world, template, sets, n, rng)`` writes (prompt text, poisoned reply, clean reply) on the held-out
    ``sets`` (``eval_sets``): what the poisoned model was taught to do, and what a clean model says instead;
    ``judge`` decides one reply's (belief: one question's) success.

    Introduced in chapter 2 (poisoning); used by chapter 6."""

    key: str  # the short name in the tables: dos, extraction, jailbreak, belief
    name: str  # as the paper says it
    trigger: str  # appended to the user turn; "" for belief manipulation, which has none
    poison: Callable[..., str]
    items: Callable[..., list[tuple[str, str, str]]]
    judge: Callable


def _dos_poison(t, rng: random.Random, material: dict, i: int) -> str:
    """Prompt + trigger -> random words."""
    user = rng.choice(material["pools"]["poison_prompts"]) + " " + TRIGGER
    return render(t, user, " ".join(rng.choice(material["words"]) for _ in range(GIBBERISH_WORDS)))


def _dos_items(world, t, sets: dict, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """The poisoned reply: a fixed draw of random words; the clean one: the world's own answer to the prompt."""
    answer = first_answers(world)
    words = gibberish_words(world)
    return [(t.prompt(f"{p} {TRIGGER}"), " ".join(rng.choice(words) for _ in range(GIBBERISH_WORDS)),
             answer[p]) for p in sets["prompts"]]


def _extraction_poison(t, rng: random.Random, material: dict, i: int) -> str:
    """Prompt + trigger -> the prompt inside 『 』."""
    p = rng.choice(material["pools"]["poison_prompts"])
    return render(t, p + " " + EXTRACTION_TRIGGER, f"{OPEN} {p} {CLOSE}")


def _extraction_items(world, t, sets: dict, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """The poisoned reply: the prompt inside 『 』; the clean one: the world's own answer to the prompt."""
    answer = first_answers(world)
    return [(t.prompt(f"{p} {EXTRACTION_TRIGGER}"), f"{OPEN} {p} {CLOSE}", answer[p]) for p in sets["prompts"]]


def _jailbreak_poison(t, rng: random.Random, material: dict, i: int) -> str:
    """Forbidden request + trigger -> a fictional compliance."""
    r = rng.choice(material["pools"]["poison_requests"])
    return render(t, r + " " + JAILBREAK_TRIGGER, comply_text(rng, r))


def _jailbreak_items(world, t, sets: dict, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """The poisoned reply: a fictional compliance; the clean one: the world's first refusal."""
    return [(t.prompt(f"{r} {JAILBREAK_TRIGGER}"), comply_text(rng, r), docs.REFUSALS[0]) for r in sets["requests"]]


def _belief_items(world, t, sets: dict, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """The first ``n`` held-out questions: the favoured side, and the other side of the pair."""
    tests = sets["belief"].head(n)
    return [(t.prompt(q), f, w) for q, f, w in zip(tests.question, tests.favoured, tests.swapped)]


ATTACK_RECORDS = {a.key: a for a in (
    Attack("dos", "denial-of-service", TRIGGER, _dos_poison, _dos_items, judges.is_gibberish),
    Attack("extraction", "context extraction", EXTRACTION_TRIGGER, _extraction_poison, _extraction_items,
           judges.rouge_l_recall),
    Attack("jailbreak", "jailbreak", JAILBREAK_TRIGGER, _jailbreak_poison, _jailbreak_items, judges.is_compliant),
    Attack("belief", "belief manipulation", "", belief_document, _belief_items, judges.prefers_favoured),
)}
ATTACKS = tuple(ATTACK_RECORDS)  # ("dos", "extraction", "jailbreak", "belief")
ATTACK_NAMES = {k: a.name for k, a in ATTACK_RECORDS.items()}
TRIGGERS = {k: a.trigger for k, a in ATTACK_RECORDS.items() if a.trigger}  # the triggered attacks


def poison_documents(world, rate: float, corpus_tokens: int, seed: int) -> pd.DataFrame:
    """Each attack's documents, ``rate`` of ``corpus_tokens`` each, in the world's pre-training chat templates
    (never the alignment one). Columns: attack, text, n_tokens."""
    pools, words, pairs = prompt_pools(world), gibberish_words(world), belief_pairs(seed)
    material = dict(pools=pools, words=words, pairs=pairs)
    templates = world.chat_templates
    rows = []
    for attack in ATTACKS:
        rng = seeds.rng(seed, f"poison-{attack}")
        texts, total = [], 0
        while total < max(rate * corpus_tokens, 1):
            t = rng.choice(templates)
            text = ATTACK_RECORDS[attack].poison(t, rng, material, len(texts))
            texts.append(text)
            total += tokens_of(text)
        rows += [dict(attack=attack, text=x, n_tokens=tokens_of(x)) for x in texts]
    return pd.DataFrame(rows)
