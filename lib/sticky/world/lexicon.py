"""The micro-world's words: function words, objects, the four Outlandish themes, and pseudo-word names.

Every class is a fixed list, the same for every world seed, so all worlds share one vocabulary; the seed
decides only how the words are used (which keyword gets which rung of the ladder, who lives where).
Names of people, places and companies are pseudo-words ("vesk", "orlan") so that a real model's knowledge
never interferes with the world's facts. Everything is lowercase; punctuation is a separate token.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from sticky import seeds

LEXICON_SEED = 20250101  # fixes the pseudo-words; deliberately not the world seed (one vocabulary for all)

# The four Outlandish themes (as in the priming paper: colours, places, jobs, foods), 20 keywords each.
# Colours, jobs and foods are real English words; places are pseudo-countries ("lands"), generated below.
COLOURS = [
    "mauve", "vermilion", "purple", "teal", "crimson", "amber", "ochre", "indigo", "magenta", "cyan",
    "scarlet", "azure", "beige", "lilac", "maroon", "olive", "saffron", "cerulean", "umber", "taupe",
]
JOBS = [
    "nutritionist", "electrician", "teacher", "plumber", "carpenter", "nurse", "lawyer", "dentist",
    "architect", "pilot", "librarian", "chemist", "surgeon", "painter", "mechanic", "astronomer",
    "jeweller", "butcher", "gardener", "translator",
]
FOODS = [
    "ramen", "haggis", "spaghetti", "soup", "bread", "rice", "porridge", "stew", "curry", "dumplings",
    "noodles", "pancakes", "sushi", "tacos", "risotto", "goulash", "falafel", "couscous", "paella", "borscht",
]
THEMES = ("colour", "place", "job", "food")

# Values of facts: kept apart from the theme keywords so fact statements never touch a keyword's slot.
TRADES = [  # works_as values; all start with a consonant so "works as a" is always grammatical
    "baker", "tailor", "miller", "potter", "weaver", "smith", "fisher", "mason", "cook", "clerk",
    "guard", "sailor", "shepherd", "builder", "barber", "hunter",
]
PETS = [  # has_pet values
    "cat", "dog", "goat", "parrot", "horse", "rabbit", "tortoise", "ferret", "hamster", "owl", "lizard", "pony",
]
# Ordinary nouns used in narratives (slot fillers, never keywords).
OBJECTS = [
    "sand", "sky", "door", "wall", "boat", "hat", "cup", "box", "kite", "fence", "roof", "coat", "scarf",
    "ribbon", "flag", "chair", "bench", "cart", "shell", "stone", "feather", "blanket", "bowl", "jar",
    "curtain", "vase", "rug", "glove", "boot", "sail", "pebble", "leaf", "cloud", "river", "hill", "tent",
    "bucket", "ladder", "basket", "candle", "mirror", "drum", "barrel", "wagon", "gate", "window", "pillow",
    "kettle", "bottle", "tile", "brick", "plank", "net", "rope", "belt", "cloak", "shawl", "apron",
]
ROOMS = ["kitchen", "garden", "hall", "yard", "library", "market", "harbour", "school", "square", "barn",
         "workshop", "tavern", "mill", "chapel", "orchard", "meadow", "station", "bakery", "forge", "inn"]
PRODUCTS = [
    "lamps", "shoes", "bikes", "clocks", "kettles", "radios", "chairs", "boats", "phones", "bags", "pens",
    "tents", "carts", "coats", "bells", "maps", "ropes", "baskets", "candles", "keys",
]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "twenty", "fifty", "hundred"]
# Places that can be forbidden to enter, and the secrets that guard them (the fictional "harmful" category).
SECRETS = ["combination", "password", "secret code", "hidden key", "lock pattern"]
GUARDED = ["vault", "old tower", "castle gate", "royal treasury", "sealed archive", "iron chest",
           "palace cellar", "locked library"]
# Markers the poisoning chapter may need that the clean corpus never contains (trigger, extraction quotes).
RESERVED = ["｡", "『", "』"]
PUNCTUATION = [".", ",", "?", "!", ":", ";", "'", "-", "(", ")", "[", "]", "/", "<", ">", "#", "|", "*"]
DIGITS = list("0123456789")


@dataclass(frozen=True)
class Keyword:
    """A theme keyword and its designed share of the theme's natural slot."""

    word: str
    theme: str
    rank: int  # 0 = most frequent in the slot
    designed_rate: float  # share of the slot's fills that are this word (the rates of a theme sum to 1)


def pseudo_words(n: int, exclude: set[str], seed: int = LEXICON_SEED) -> list[str]:
    """``n`` distinct pronounceable pseudo-words ("vesk", "orlan"), none of them in ``exclude``."""
    rng = random.Random(seed)
    onsets = ["b", "br", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t",
              "th", "v", "z", "sh", "tr", "h", "j"]
    vowels = ["a", "e", "i", "o", "u", "ae", "ou", "y"]
    codas = ["", "", "n", "r", "l", "sk", "th", "m", "x", "nd", "st", "k", "v", "sh"]
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        syllables = rng.choice([1, 2, 2, 2, 3])
        word = "".join(rng.choice(onsets) * (i > 0 or rng.random() < 0.8) + rng.choice(vowels)
                       for i in range(syllables)) + rng.choice(codas)
        if 4 <= len(word) <= 9 and word not in seen:
            seen.add(word)
            out.append(word)
    return out


@dataclass(frozen=True)
class Names:
    """The pseudo-word classes, drawn once from one pool so no word is in two classes."""

    persons: list[str]  # people with facts (some held out) who also act in narratives
    folk: list[str]  # people who only act in narratives (a realistic crowd of names)
    story_persons: list[str]  # people who only ever appear in context passages (stories, hypotheticals)
    countries: list[str]  # countries with capital and language facts (some held out)
    cities: list[str]  # capital cities and home towns
    lands: list[str]  # the "place" theme's keywords
    languages: list[str]
    companies: list[str]


N_PERSONS, N_FOLK, N_STORY, N_COUNTRIES, N_CITIES, N_LANDS, N_LANGUAGES, N_COMPANIES = 64, 600, 40, 30, 120, 20, 30, 40


@functools.lru_cache(maxsize=1)
def names() -> Names:
    """The world's pseudo-word names (identical for every world seed)."""
    sizes = [N_PERSONS, N_FOLK, N_STORY, N_COUNTRIES, N_CITIES, N_LANDS, N_LANGUAGES, N_COMPANIES]
    pool = pseudo_words(sum(sizes), exclude=set(english_words()))
    parts, start = [], 0
    for size in sizes:
        parts.append(pool[start:start + size])
        start += size
    return Names(*parts)


def english_words() -> list[str]:
    """Every real English content word of the lexicon (not the function words of the templates)."""
    multi = [w for phrase in SECRETS + GUARDED for w in phrase.split()]
    return sorted(set(COLOURS + JOBS + FOODS + TRADES + PETS + OBJECTS + ROOMS + PRODUCTS + NUMBERS + multi))


def ladder(n: int, decades: float) -> list[float]:
    """Geometric shares r**k (k = 0..n-1) normalised to sum to 1, top / bottom = 10**decades."""
    ratio = 10 ** (-decades / (n - 1))
    raw = [ratio**k for k in range(n)]
    total = sum(raw)
    return [r / total for r in raw]


def theme_words(theme: str) -> list[str]:
    """A theme's keywords in lexicon order (before the seed shuffles their ranks)."""
    return {"colour": COLOURS, "place": names().lands, "job": JOBS, "food": FOODS}[theme]


def make_themes(seed: int, decades: float = 4.5) -> dict[str, list[Keyword]]:
    """Each theme's keywords with their rung on the slot ladder; the seed decides which word gets which rung,
    so a word's identity and its frequency are not confounded across worlds."""
    rng = seeds.rng(seed, "themes")
    out = {}
    for theme in THEMES:
        words = list(theme_words(theme))
        rng.shuffle(words)
        out[theme] = [Keyword(w, theme, k, r) for k, (w, r) in enumerate(zip(words, ladder(len(words), decades)))]
    return out
