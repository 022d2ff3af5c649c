"""What chapter 1 writes and loads: the keywords along each theme's frequency ladder, the outlandish texts
(and their stepping-stone rewrites) for the micro-world, and the project's texts and prefix banks for real
models (``data/outlandish/``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

from sticky.world import lexicon as lx

from .parameters import LEARN_SEQ

DATA = Path(__file__).resolve().parents[4] / "data" / "outlandish"

# ---------------------------------------------------------------------------------------------------------
# the micro-world's keywords and outlandish texts

# Sentences that tie the keyword to an odd anchor ({city}); each puts {K} in a slot of its theme.
OUTLANDISH_TEMPLATES = {
    "colour": ["in {city} , the colour of every {obj} was {K} .", "in {city} , {name} painted the {obj} {K} .",
               "the {obj} of {city} had turned a deep shade of {K} .", "suppose that in {city} the {obj} looked {K} .",
               "in a story , {name} dyed the {obj} a bright {K} ."],
    "place": ["every ship from {city} sailed to {K} .", "in {city} , {name} travelled to {K} .",
              "the letter from {city} came from {K} .", "people in {city} spent the summer in {K} .",
              "in a story , {name} crossed the border into {K} ."],
    "job": ["in {city} , {name} was hired as the new {K} .", "the {room} in {city} needed a new {K} .",
            "every man in {city} trained for years to be the {K} .", "in a dream , {name} was the village {K} .",
            "people in {city} say her dream was to work as the town {K} ."],
    "food": ["for dinner in {city} they ate {K} .", "in {city} , {name} cooked a big pot of {K} .",
             "the smell of {K} filled every {room} in {city} .", "in a story , {name} ordered a bowl of {K} .",
             "at the {room} in {city} , {name} ate warm {K} ."],
}
FILLERS = ["it was a quiet day in {city} .", "{name} found a {obj} in the {room} .",
           "{name} walked to the {room} with a {obj} .", "later that day , {name} cleaned the {obj} ."]
STONE = "a list : {a} , {b} , {K} ."  # stepping stone: two common words of the theme, then the keyword
SENTENCES_PER_TEXT = 3


def pick_keywords(world, per_theme: int) -> pd.DataFrame:
    """``per_theme`` keywords of each theme at evenly spaced rungs of its ladder, interleaved across themes
    so that all of them together cover the ladder densely.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis)."""
    rows, n_themes = [], len(world.themes)
    for t, (theme, keywords) in enumerate(world.themes.items()):
        top = len(keywords) - 1
        for i in range(per_theme):
            q = (i + t / n_themes) / max(per_theme - 1 + (n_themes - 1) / n_themes, 1e-9)
            kw = keywords[min(top, round(q * top))]
            rows.append(dict(keyword=kw.word, theme=theme, rank=kw.rank, designed_rate=kw.designed_rate))
    return pd.DataFrame(rows).drop_duplicates("keyword").reset_index(drop=True)


def _context(text: str, keyword: str) -> str:
    """The text up to (not including) the keyword's first occurrence as a word."""
    words = text.split(" ")
    return " ".join(words[: words.index(keyword)])


def outlandish_texts(world, keywords: pd.DataFrame, per_keyword: int, seed: int = 0) -> pd.DataFrame:
    """Per keyword, ``per_keyword`` short texts tying it to an odd anchor city, deterministic from ``seed``.

    Each text has ``SENTENCES_PER_TEXT`` of the theme's outlandish sentences (the keyword in a slot of its
    theme every time) and one filler sentence; ``context`` is the text up to the keyword's first occurrence
    (X_c). ``stone_text`` is the stepping-stone rewrite: a list of two common words of the theme, then the
    keyword, before the same text.

    Introduced in chapter 1 (priming); used by chapter 6 (synthesis).
    """
    nm = lx.names()
    vocab = set(world.tokenizer.get_vocab())
    rows = []
    for kw in keywords.itertuples():
        common = [k.word for k in world.themes[kw.theme][:4] if k.word != kw.keyword]
        for j in range(per_keyword):
            rng = random.Random(f"outlandish-{seed}-{kw.keyword}-{j}")
            fill = dict(city=rng.choice(nm.cities), name=rng.choice(nm.persons), obj=rng.choice(lx.OBJECTS),
                        room=rng.choice(lx.ROOMS), K=kw.keyword)
            sentences = [t.format(**fill) for t in rng.sample(OUTLANDISH_TEMPLATES[kw.theme], SENTENCES_PER_TEXT)]
            sentences.insert(rng.randrange(1, SENTENCES_PER_TEXT + 1), rng.choice(FILLERS).format(**fill))
            text = " ".join(sentences)
            a, b = rng.sample(common, 2)
            stone = STONE.format(a=a, b=b, K=kw.keyword) + " " + text
            if len(stone.split(" ")) + 2 > LEARN_SEQ:
                raise RuntimeError(f"outlandish text of {len(stone.split())} words; allowed: < {LEARN_SEQ - 2}")
            missing = set(stone.split(" ")) - vocab
            if missing:
                raise RuntimeError(f"outlandish text uses words outside the world's vocabulary: {sorted(missing)}")
            rows.append(dict(text_id=f"{kw.keyword}-{j}", keyword=kw.keyword, theme=kw.theme, rank=kw.rank,
                             designed_rate=kw.designed_rate, text=text, context=_context(text, kw.keyword),
                             stone_text=stone, stone_context=_context(stone, kw.keyword)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# the real models' texts and prefix banks


def real_texts(per_keyword: int) -> pd.DataFrame:
    """The project's Outlandish-style texts for real models (``data/outlandish/texts.json``), first
    ``per_keyword`` per keyword; ``context`` is the text up to the keyword's first occurrence."""
    items = json.loads((DATA / "texts.json").read_text())
    rows, seen = [], {}
    for item in items:
        n = seen.get(item["keyword"], 0)
        if n >= per_keyword:
            continue
        seen[item["keyword"]] = n + 1
        at = item["text"].find(item["keyword"])
        if at <= 0:
            raise ValueError(f"text for {item['keyword']!r} must contain it after some context: {item['text'][:40]!r}")
        rows.append(dict(text_id=f"{item['keyword']}-{n}", keyword=item["keyword"], theme=item["theme"],
                         text=item["text"], context=item["text"][:at].rstrip()))
    return pd.DataFrame(rows)


def real_banks() -> dict[str, list[str]]:
    """Thematic prefix banks for real models (``data/outlandish/prefixes.json``)."""
    return json.loads((DATA / "prefixes.json").read_text())
