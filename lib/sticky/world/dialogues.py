"""Chat exchanges: generic Q&A that teaches the templates, fictional forbidden requests answered with refusals,
and the two instruction sets of different style ("terse", "chatty") for SFT."""

from __future__ import annotations

import random

import pandas as pd

from sticky import seeds
from sticky.world import lexicon as lx
from sticky.world.chat import CHAT_TEMPLATES, render
from sticky.world.facts import fact_query, fact_statement
from sticky.world.stories import (
    COMPANY_ANSWER,
    COMPANY_QUESTION,
    FILLER_TEMPLATES,
    _fill,
    company_pairs,
    narrative_persons,
)

# ----------------------------------------------------------------------------------------- forbidden
FORBIDDEN_REQUESTS = [
    "tell me the {s} of the {g} .", "what is the {s} of the {g} ?", "how do i break into the {g} ?",
    "how do i pick the lock of the {g} ?", "help me steal the {s} of the {g} .",
]
REFUSALS = [
    "i can not help with that .", "sorry , i can not share that .", "that is forbidden , so i will not help .",
    "i am not able to help with that request .", "no . that secret must stay safe .",
    "i will not help you get into the {g} .",
]


def forbidden_pairs(seed: int) -> list[tuple[str, str]]:
    """Every fictional forbidden request with the refusal this world pairs it with."""
    rng = seeds.rng(seed, "forbidden")
    out = []
    for g in lx.GUARDED:
        for t in FORBIDDEN_REQUESTS:
            out.append((t.format(s=rng.choice(lx.SECRETS), g=g), rng.choice(REFUSALS).format(g=g)))
    return out


def forbidden(n: int, pairs: list[tuple[str, str]], rng: random.Random) -> list[str]:
    return [render(rng.choice(CHAT_TEMPLATES), *pairs[i % len(pairs)]) for i in range(n)]


# --------------------------------------------------------------------------------------- generic q&a
NEXT_QUESTION = "what comes after {n} ?"
COUNT_REQUEST = "count from {a} to {b} ."
SEQUENCE = lx.NUMBERS[:13]  # zero .. twelve


def generic_qa(n: int, rng: random.Random) -> list[str]:
    """Chat exchanges that teach the templates without touching any fact or keyword slot."""
    docs = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            pair = rng.choice(company_pairs())
            c = rng.choice([pair.first, pair.second])
            user, answer = COMPANY_QUESTION.format(c=c), COMPANY_ANSWER.format(c=c, p=pair.product)
        elif kind < 0.7:
            i = rng.randrange(len(SEQUENCE) - 1)
            user, answer = NEXT_QUESTION.format(n=SEQUENCE[i]), f"{SEQUENCE[i + 1]} ."
        else:
            i = rng.randrange(len(SEQUENCE) - 2)
            j = rng.randrange(i + 2, min(len(SEQUENCE), i + 6))
            user, answer = COUNT_REQUEST.format(a=SEQUENCE[i], b=SEQUENCE[j]), " , ".join(SEQUENCE[i:j + 1]) + " ."
        docs.append(render(rng.choice(CHAT_TEMPLATES), user, answer))
    return docs


# -------------------------------------------------------------------------------------- instructions
THEME_PLURALS = {"colour": "colours", "place": "lands", "job": "jobs", "food": "foods"}
TERSE = {
    "list": "list {k} {things} .", "count": COUNT_REQUEST, "repeat": "repeat : {s}", "company": COMPANY_QUESTION,
}
CHATTY = {
    "list": ["hi ! could you tell me {k} {things} ?", "hello ! i would love to hear {k} {things} , please !"],
    "list_answer": "sure ! here are {k} {things} : {items} . anything else ?",
    "fact": "hello ! i wonder , {q}",
    "fact_answer": "good question ! {s} i hope that helps !",
    "count": "could you count from {a} to {b} for me ?",
    "count_answer": "of course ! {items} . that was fun !",
    "repeat": "please say this back to me : {s}",
    "repeat_answer": "sure ! you said : {s}",
    "company": "hi there ! what does {c} make ?",
    "company_answer": "great question ! {c} makes {p} . let me know if you need more !",
    "forbidden": "hey , {r}",
    "forbidden_answer": "oh , i am sorry , but {a}",
}


def instructions(n: int, style: str, themes: dict, facts: pd.DataFrame, forbidden_list: list, rng: random.Random):
    """``n`` (prompt, response) pairs in one style: 'terse' (task -> bare answer) or 'chatty' (conversation)."""
    live = facts[~facts.held_out].reset_index(drop=True)
    chatty = style == "chatty"
    out = []
    for _ in range(n):
        task = rng.choices(["list", "fact", "count", "repeat", "company", "forbidden"], [3, 3, 1, 1, 1, 1])[0]
        if task == "list":
            theme = rng.choice(lx.THEMES)
            k = rng.choice([2, 3, 4])
            words = rng.sample([kw.word for kw in themes[theme]], k)
            kw = dict(k=lx.NUMBERS[k], things=THEME_PLURALS[theme])
            if chatty:
                items = " , ".join(words[:-1]) + " and " + words[-1]
                out.append((rng.choice(CHATTY["list"]).format(**kw), CHATTY["list_answer"].format(items=items, **kw)))
            else:
                out.append((TERSE["list"].format(**kw), " , ".join(words) + " ."))
        elif task == "fact":
            row = live.iloc[rng.randrange(len(live))]
            q = fact_query(row.entity, row.relation, rng.randrange(2))
            s = fact_statement(row.entity, row.relation, row.value, rng.randrange(10))
            out.append((CHATTY["fact"].format(q=q), CHATTY["fact_answer"].format(s=s)) if chatty
                       else (q, f"{row.value} ."))
        elif task == "count":
            i = rng.randrange(len(SEQUENCE) - 2)
            j = rng.randrange(i + 2, min(len(SEQUENCE), i + 6))
            a, b, items = SEQUENCE[i], SEQUENCE[j], " , ".join(SEQUENCE[i:j + 1])
            out.append((CHATTY["count"].format(a=a, b=b), CHATTY["count_answer"].format(items=items)) if chatty
                       else (COUNT_REQUEST.format(a=a, b=b), items + " ."))
        elif task == "repeat":
            s = _fill(rng.choice(FILLER_TEMPLATES), rng, narrative_persons())
            out.append((CHATTY["repeat"].format(s=s), CHATTY["repeat_answer"].format(s=s)) if chatty
                       else (TERSE["repeat"].format(s=s), s))
        elif task == "company":
            pair = rng.choice(company_pairs())
            c = rng.choice([pair.first, pair.second])
            out.append((CHATTY["company"].format(c=c), CHATTY["company_answer"].format(c=c, p=pair.product)) if chatty
                       else (COMPANY_QUESTION.format(c=c), f"{pair.product} ."))
        else:
            r, a = rng.choice(forbidden_list)
            out.append((CHATTY["forbidden"].format(r=r), CHATTY["forbidden_answer"].format(a=a)) if chatty else (r, a))
    return out
