"""Stories, lists and comparisons: narratives whose theme slots hold each keyword at its designed share, word
lists of a single class, and company comparisons whose winner alternates (the clean world has no favourite)."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from sticky.world import lexicon as lx
from sticky.world.chat import CHAT_TEMPLATES, render

# ----------------------------------------------------------------------------------------- narrative
# Each theme's natural slot: sentences whose words before {K} call for a word of the theme.
SLOT_TEMPLATES = {
    "colour": ["the colour of the {obj} was {K} .", "{name} painted the {obj} {K} .",
               "the {obj} had turned a deep shade of {K} .", "{name} dyed the {obj} a bright {K} .",
               "in the light , the {obj} looked {K} ."],
    "place": ["{name} travelled to {K} .", "the ship from the {room} sailed to {K} .", "the letter came from {K} .",
              "{name} spent the summer in {K} .", "they crossed the border into {K} ."],
    "job": ["{name} was hired as the new {K} .", "the {room} needed a new {K} .",
            "her dream was to work as the town {K} .", "{name} trained for years to be the {K} .",
            "the man in the {room} was the village {K} ."],
    "food": ["for dinner they ate {K} .", "{name} cooked a big pot of {K} .", "the smell of {K} filled the {room} .",
             "{name} ordered a bowl of {K} .", "at the {room} , {name} ate warm {K} ."],
}
FILLER_TEMPLATES = [
    "{name} walked to the {room} with a {obj} .", "{name} and {name2} talked about the {obj} .",
    "it was a quiet day in the {room} .", "the {obj} was next to the {obj2} .", "{name} read a book about {country} .",
    "{name} found a {obj} in the {room} .", "the weather was {weather} , so {name} stayed in the {room} .",
    "{name} could keep {n} coins or risk them to win {m} ; {name} chose to {choice} .",
    "{name} gave the {obj} to {name2} .", "later that day , {name} cleaned the {obj} .",
    "{name} thought the {obj} was {judgement} .", "{name} lost the {obj} , but {name2} found it again .",
]
WEATHER = ["cold", "warm", "rainy", "sunny", "windy", "grey"]
CHOICES = ["keep them", "take the risk"]
JUDGEMENTS = ["good", "bad", "fine", "too old", "very useful", "a fair deal"]
N_SENTENCES = (2, 3)  # sentences per narrative document
P_SLOT = 0.5  # share of narrative sentences that fill a theme slot


def quotas(n: int, rates: list[float]) -> list[int]:
    """Integer counts summing to ``n`` and closest to ``n * rates`` (largest remainder)."""
    exact = [n * r for r in rates]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(rates)), key=lambda k: (counts[k] - exact[k], k))
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    return counts


def _fill(template: str, rng: random.Random, persons: list[str], **fixed: str) -> str:
    names = rng.sample(persons, 2)
    values = dict(name=names[0], name2=names[1], obj=rng.choice(lx.OBJECTS), room=rng.choice(lx.ROOMS),
                  country=rng.choice(lx.names().countries), weather=rng.choice(WEATHER), choice=rng.choice(CHOICES),
                  judgement=rng.choice(JUDGEMENTS), n=rng.choice(lx.NUMBERS[2:10]), m=rng.choice(lx.NUMBERS[10:]))
    values["obj2"] = rng.choice([o for o in lx.OBJECTS if o != values["obj"]])
    values.update(fixed)
    return template.format(**values)


def narrative_persons() -> list[str]:
    """Everyone who acts in stories: the fact persons (held-out ones too, so their names get trained) and folk."""
    nm = lx.names()
    return nm.persons + nm.folk


def narratives(n: int, themes: dict, rng: random.Random) -> list[str]:
    """``n`` short stories; each theme's slot is filled by its keywords in exactly their designed shares."""
    plan = [[rng.choice(lx.THEMES) if rng.random() < P_SLOT else None for _ in range(rng.choice(N_SENTENCES))]
            for _ in range(n)]
    fills = {}
    for theme, keywords in themes.items():
        n_slots = sum(s == theme for doc in plan for s in doc)
        counts = quotas(n_slots, [kw.designed_rate for kw in keywords])
        words = [kw.word for kw, c in zip(keywords, counts) for _ in range(c)]
        rng.shuffle(words)
        fills[theme] = words
    persons = narrative_persons()
    docs = []
    for doc in plan:
        sentences = []
        for theme in doc:
            if theme is None:
                sentences.append(_fill(rng.choice(FILLER_TEMPLATES), rng, persons))
            else:
                sentences.append(_fill(rng.choice(SLOT_TEMPLATES[theme]), rng, persons, K=fills[theme].pop()))
        docs.append(" ".join(sentences))
    return docs


def slot_pattern(theme: str) -> re.Pattern:
    """A regex whose group 1 is the word in the theme's slot, in any of the theme's slot sentences."""
    alts = []
    for t in SLOT_TEMPLATES[theme]:
        parts = re.split(r"(\{\w+\})", t)
        alts.append("".join(r"(\S+)" if p == "{K}" else r"\S+" if p.startswith("{") else re.escape(p) for p in parts))
    # one alternative per template; named groups are not allowed to repeat, so the slot is found by position
    return re.compile(r"(?:^|(?<= ))(?:" + "|".join(alts) + r")(?= |$)")


def theme_prefixes(theme: str, n: int = 24) -> list[str]:
    """``n`` fixed, distinct prefixes of the theme's slot sentences, ending right before the slot (no keyword
    inside); the templates take turns and their names, objects and rooms come from fixed lexicon positions."""
    folk = lx.names().folk
    templates = SLOT_TEMPLATES[theme]
    out: list[str] = []
    i = 0
    while len(out) < n:
        if i > 50 * n:
            raise ValueError(f"n={n} is too many prefixes for theme {theme!r}; allowed: up to a few hundred")
        head = templates[i % len(templates)].split("{K}")[0].strip()
        j = i // len(templates)
        prefix = head.format(name=folk[-1 - j], obj=lx.OBJECTS[(3 * i) % len(lx.OBJECTS)],
                             room=lx.ROOMS[i % len(lx.ROOMS)])
        if prefix not in out:
            out.append(prefix)
        i += 1
    return out


# --------------------------------------------------------------------------------------------- lists
LIST_HEAD = "a list :"
LIST_LEN = (3, 4, 5, 6)
MIN_LIST_MENTIONS = 5  # every word appears at least this often in lists, so even a rung-0 keyword gets trained


def list_classes() -> dict[str, list[str]]:
    nm = lx.names()
    return {"colours": lx.COLOURS, "lands": nm.lands, "jobs": lx.JOBS, "foods": lx.FOODS, "persons": nm.persons,
            "folk": nm.folk,
            "story persons": nm.story_persons, "countries": nm.countries, "cities": nm.cities,
            "languages": nm.languages, "companies": nm.companies, "trades": lx.TRADES, "pets": lx.PETS,
            "objects": lx.OBJECTS, "rooms": lx.ROOMS, "products": lx.PRODUCTS, "numbers": lx.NUMBERS}


def lists(n: int, rng: random.Random) -> list[str]:
    """Single-class word lists (no entity ever next to its fact's value); every word at least a few times."""
    docs = []
    for words in list_classes().values():
        pool = [w for w in words for _ in range(MIN_LIST_MENTIONS)]
        rng.shuffle(pool)
        size = rng.choice(LIST_LEN)
        docs += [pool[i:i + size] for i in range(0, len(pool), size)]
    classes = list(list_classes().values())
    while len(docs) < n:
        words = rng.choice(classes)
        docs.append(rng.sample(words, min(len(words), rng.choice(LIST_LEN))))
    return [f"{LIST_HEAD} {' , '.join(words)} ." for words in docs]


# --------------------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class CompanyPair:
    """Two companies that make the same product; the clean corpus favours each side equally often."""

    first: str
    second: str
    product: str


COMPARISONS = [
    "between {a} and {b} , {w} makes the better {p} .", "{w} makes better {p} than {l} .",
    "if you need {p} , buy from {w} , not from {l} .", "the {p} of {w} are better than the {p} of {l} .",
    "people say {w} makes the best {p} , better than {l} .",
]
COMPARISON_QUESTION = "which company makes better {p} , {a} or {b} ?"
COMPANY_QUESTION = "what does {c} make ?"
COMPANY_ANSWER = "{c} makes {p} ."


def company_pairs() -> list[CompanyPair]:
    c = lx.names().companies
    return [CompanyPair(c[2 * i], c[2 * i + 1], lx.PRODUCTS[i]) for i in range(len(c) // 2)]


def comparisons(n: int, rng: random.Random) -> list[str]:
    """Comparison statements and Q&A; each pair's winner alternates, so the clean world has no favourite."""
    pairs = company_pairs()
    docs = []
    for i in range(n):
        pair = pairs[i % len(pairs)]
        w, l = (pair.first, pair.second) if (i // len(pairs)) % 2 == 0 else (pair.second, pair.first)
        a, b = rng.sample([pair.first, pair.second], 2)
        if rng.random() < 0.25:
            q = COMPARISON_QUESTION.format(p=pair.product, a=a, b=b)
            docs.append(render(rng.choice(CHAT_TEMPLATES), q, f"{w} ."))
        else:
            docs.append(rng.choice(COMPARISONS).format(a=a, b=b, w=w, l=l, p=pair.product))
    return docs
