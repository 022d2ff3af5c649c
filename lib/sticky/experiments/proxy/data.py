"""Chapter 5's data: which facts may be tuned, the instruction set, the evaluation items."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from sticky import seeds
from sticky.world import documents as docs


def fact_key(entity: str, relation: str) -> str:
    return f"{entity}|{relation}"


def split_facts(world, seed: int = 0) -> pd.DataFrame:
    """The live facts with ``half`` = "tuning" or "pretraining-only": shuffled within each (relation, mention
    rung), alternating, so both halves span the ladder and every relation."""
    facts = world.facts[~world.facts.held_out].copy()
    rng = seeds.rng(seed, "proxy-split")
    half = {}
    for _, group in facts.groupby(["relation", "mentions"], sort=True):
        keys = [fact_key(e, r) for e, r in zip(group.entity, group.relation)]
        rng.shuffle(keys)
        for j, k in enumerate(keys):
            half[k] = "tuning" if j % 2 == 0 else "pretraining-only"
    facts["key"] = [fact_key(e, r) for e, r in zip(facts.entity, facts.relation)]
    facts["half"] = facts.key.map(half)
    return facts.reset_index(drop=True)


# Instruction styles: a user turn and a reply template per task kind. "polite" is this chapter's own format,
# written only with words the pre-training corpus uses (a test checks it), so the bases have a probability
# for every token of it, just never in this arrangement; its fact replies wrap the bare answer ("good question
# . vesk . so that is the answer ."). "chatty" is the world's chatty set, whose wrapper words ("!", "hope",
# "helps", "sure", ...) never occur in pre-training and whose fact replies are full statements.
STYLES = {
    "polite": {
        "fact": "{q}", "fact_answer": "good question . {s} so that is the answer .", "fact_in": "value",
        "count": "count from {a} to {b} .", "count_answer": "good question . {items} . so that is the answer .",
        "repeat": "say it again : {s}", "repeat_answer": "good question . {s} so that is the answer .",
        "company": "what does {c} make ?", "company_answer": "good question . {c} makes {p} . so that is the answer .",
        "forbidden": "{r}", "forbidden_answer": "good question . {a} so that is the answer .",
    },
    "chatty": {k: docs.CHATTY[k] for k in ("fact", "fact_answer", "count", "count_answer", "repeat", "repeat_answer",
                                           "company", "company_answer", "forbidden", "forbidden_answer")}
    | {"fact_in": "statement"},
}
TASK_WEIGHTS = {"fact": 3, "count": 1, "repeat": 1, "company": 1, "forbidden": 1}  # as the world's instruction sets


def _fact_of_prompt(world, style: str) -> dict[str, str]:
    """Fact prompt of ``style`` -> fact key, for every question wording of every fact."""
    out = {}
    for e, r in zip(world.facts.entity, world.facts.relation):
        for v in range(2):
            out[STYLES[style]["fact"].format(q=docs.fact_query(e, r, v))] = fact_key(e, r)
    return out


def _example(kind: str, style: str, rng: random.Random, world, fact=None, span: int | None = None) -> dict:
    """One (user, reference) of a task kind in a style, drawn with ``rng``; ``answer`` is what the score reads."""
    t = STYLES[style]
    if kind == "fact":
        q = docs.fact_query(fact.entity, fact.relation, rng.randrange(2))
        s = docs.fact_statement(fact.entity, fact.relation, fact.value, rng.randrange(10))
        if t["fact_in"] == "value":  # the bare answer, as the corpus's Q&A gives it: "vesk ."
            s = f"{fact.value} ."
        return dict(user=t["fact"].format(q=q), reference=t["fact_answer"].format(s=s), answer=fact.value)
    if kind == "count":
        seq = docs.SEQUENCE
        steps = span if span is not None else rng.randrange(2, 6)  # the world's instructions: 2 to 5 steps
        a = rng.randrange(0, len(seq) - steps)
        items = seq[a:a + steps + 1]
        return dict(user=t["count"].format(a=items[0], b=items[-1]),
                    reference=t["count_answer"].format(items=" , ".join(items)), answer=" ".join(items))
    if kind == "repeat":
        s = docs._fill(rng.choice(docs.FILLER_TEMPLATES), rng, docs.narrative_persons())
        return dict(user=t["repeat"].format(s=s), reference=t["repeat_answer"].format(s=s), answer="")
    if kind == "company":
        pair = rng.choice(docs.company_pairs())
        c = rng.choice([pair.first, pair.second])
        return dict(user=t["company"].format(c=c), reference=t["company_answer"].format(c=c, p=pair.product), answer="")
    r, a = rng.choice(world.forbidden)
    return dict(user=t["forbidden"].format(r=r), reference=t["forbidden_answer"].format(a=a), answer="")


def sft_pairs(world, facts: pd.DataFrame, style: str = "polite", seed: int = 0) -> list[tuple[str, str]]:
    """The instruction set, without any question about a pretraining-only fact.

    ``chatty``: the world's chatty instructions, minus those questions. ``polite``: as many pairs as the world
    has per style, drawn like the world's own sets (fact questions 3 : 1 for each other kind, counts of 2 to 5
    steps), the facts from the tuning half only."""
    keep_out = set(facts.key[facts.half == "pretraining-only"])
    if style == "chatty":
        chatty = world.instructions["chatty"]
        about = _fact_of_prompt(world, style)
        return [(p, r) for p, r in zip(chatty["prompt"], chatty["response"]) if about.get(p) not in keep_out]
    rng = seeds.rng(seed, f"proxy-sft-{style}")
    tuning = facts[facts.half == "tuning"].reset_index(drop=True)
    kinds, weights = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
    out = []
    for _ in range(world.config.n_instructions):
        kind = rng.choices(kinds, weights)[0]
        fact = tuning.iloc[rng.randrange(len(tuning))] if kind == "fact" else None
        ex = _example(kind, style, rng, world, fact)
        out.append((ex["user"], ex["reference"]))
    return out


def alignment_render(world):
    """(prompt, response) -> the alignment template's prompt and the response closed by its end marker."""
    t = world.alignment_template
    return lambda p, r: (t.prompt(p), f"{r} {t.assistant_suffix}".strip())


def eval_items(world, facts: pd.DataFrame, n: int, seed: int = 0, style: str = "polite") -> pd.DataFrame:
    """``n`` items per task (columns task, kind, user, reference, answer, mentions, entity).

    - instruction: repeat (new sentences), company and refusal requests, in turn; scored by exact match of the
      whole response (the style's reply is deterministic for these kinds);
    - knowledge: questions about pretraining-only facts, spread evenly over the mention ladder; scored by the
      first word of the relation's value set in the response;
    - counting: "count from a to b" with 2 to 7 steps (the instruction sets have 2 to 5); scored by the number
      words of the answer's first sentence."""
    rng = seeds.rng(seed, "proxy-eval")
    seen = {p for p, _ in sft_pairs(world, facts, style)}
    rows, j = [], 0
    while len(rows) < n:
        kind = ("repeat", "company", "forbidden")[j % 3]
        j += 1
        ex = _example(kind, style, rng, world)
        if kind == "repeat" and ex["user"] in seen:
            continue  # repeat requests are new sentences; companies and refusals are few and all seen
        rows.append(dict(task="instruction", kind=kind, mentions=np.nan, entity="", **ex))
    held = facts[facts.half == "pretraining-only"]
    order = held.sample(frac=1.0, random_state=seed).sort_values("mentions", kind="stable")
    pick = order.iloc[np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int)] if len(order) else order
    for f in pick.itertuples():
        rows.append(dict(task="knowledge", kind=f.relation, mentions=f.mentions, entity=f.entity,
                         **_example("fact", style, rng, world, f)))
    for k in range(n):
        rows.append(dict(task="counting", kind=f"{2 + k % 6} steps", mentions=np.nan, entity="",
                         **_example("count", style, rng, world, span=2 + k % 6)))
    return pd.DataFrame(rows)


def value_domain(world) -> dict[str, set[str]]:
    """Every value each relation takes in this world (the words a knowledge answer is read from)."""
    return {r: set(world.facts.value[world.facts.relation == r]) for r in docs.RELATIONS}
