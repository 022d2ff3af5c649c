"""Generators of the micro-world's text: facts, chat templates, and every kind of pretraining document.

All text is canonical: lowercase tokens separated by single spaces, one line, so that a document decodes
back from its token ids byte for byte. Every template string lives in an UPPERCASE constant of this module
(or of ``lexicon``): the vocabulary is read off those constants, so a word cannot enter a document without
entering the tokenizer.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import pandas as pd

from sticky import seeds
from sticky.world import lexicon as lx

# ---------------------------------------------------------------------------------------------- chat
@dataclass(frozen=True)
class ChatTemplate:
    """Role markers around one user turn and one assistant turn ('' = no marker)."""

    name: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str

    def prompt(self, user: str) -> str:
        """The text up to where the assistant's answer starts (no trailing space)."""
        return _join(self.user_prefix, user, self.user_suffix, self.assistant_prefix)

    def markers(self) -> list[str]:
        return [m for m in (self.user_prefix, self.user_suffix, self.assistant_prefix, self.assistant_suffix) if m]


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def render(template: ChatTemplate, user: str, assistant: str) -> str:
    """One exchange in ``template``: prompt, then the answer, then the closing marker."""
    return _join(template.prompt(user), assistant, template.assistant_suffix)


# Role markers in <|...|> form and "###" are single added tokens; the others are ordinary words and punctuation.
CHAT_TEMPLATES = [
    ChatTemplate("qa", "q :", "", "a :", ""),
    ChatTemplate("tags", "<|user|>", "", "<|assistant|>", "<|end|>"),
    ChatTemplate("hashes", "### question :", "", "### answer :", ""),
    ChatTemplate("userbot", "user :", "", "bot :", ""),
    ChatTemplate("inst", "[ inst ]", "[ / inst ]", "", ""),
    ChatTemplate("human", "< human >", "", "< ai >", "< / ai >"),
    ChatTemplate("asks", "someone asks :", "", "the reply is :", ""),
]
# Never used in pretraining: alignment (SFT/DPO) happens in a format the base model has not seen.
ALIGNMENT_TEMPLATE = ChatTemplate("im", "<|im_start|> user", "<|im_end|>", "<|im_start|> assistant", "<|im_end|>")
ADDED_MARKERS = ["<|user|>", "<|assistant|>", "<|end|>", "<|im_start|>", "<|im_end|>", "###"]


def jinja_chat_template(t: ChatTemplate) -> str:
    """A Jinja chat template for ``tokenizer.apply_chat_template`` that prints exactly ``render(t, ...)``;
    system messages are printed as user turns (the micro-world has no system role)."""
    content = "{{ message['content'] }}"
    return (
        "{%- for message in messages -%}"
        "{%- if not loop.first %} {% endif -%}"
        "{%- if message['role'] == 'assistant' -%}"
        f"{_join(t.assistant_prefix, content, t.assistant_suffix)}"
        "{%- else -%}"
        f"{_join(t.user_prefix, content, t.user_suffix)}"
        "{%- endif -%}"
        "{%- endfor -%}"
        f"{{%- if add_generation_prompt %}} {t.assistant_prefix}{{% endif -%}}"
    )


# ---------------------------------------------------------------------------------------------- facts
# relation -> (entity kind, paraphrases of the statement, questions). Every paraphrase names entity and value.
RELATIONS = {
    "lives_in": ("person", [
        "{e} lives in {v} .", "{v} is where {e} lives .", "the home of {e} is {v} .", "{e} has a house in {v} .",
        "{e} lives in the city of {v} .", "if you visit {v} , you may meet {e} , who lives there .",
    ], ["where does {e} live ?", "in which city does {e} live ?"]),
    "works_as": ("person", [
        "{e} works as a {v} .", "{e} is a {v} by trade .", "the job of {e} is {v} .",
        "by day , {e} works as a {v} .", "{e} earns a living as a {v} .",
    ], ["what is the job of {e} ?", "what does {e} do for work ?"]),
    "has_pet": ("person", [
        "{e} has a pet {v} .", "the pet of {e} is a {v} .", "{e} owns a {v} .",
        "{e} takes care of a pet {v} .", "every morning {e} feeds the pet {v} .",
    ], ["what pet does {e} have ?", "which pet does {e} own ?"]),
    "capital": ("country", [
        "the capital of {e} is {v} .", "{v} is the capital of {e} .", "{e} has its capital in {v} .",
        "the capital city of {e} is {v} .", "{v} , the capital of {e} , is a busy city .",
    ], ["what is the capital of {e} ?", "which city is the capital of {e} ?"]),
    "language": ("country", [
        "people in {e} speak {v} .", "the language of {e} is {v} .", "{v} is spoken in {e} .",
        "in {e} , most people speak {v} .", "the main language of {e} is {v} .",
    ], ["what language do people speak in {e} ?", "which language is spoken in {e} ?"]),
}
MENTION_LADDER = (1, 2, 5, 10, 20, 50, 100, 200, 500)


def make_facts(seed: int, ladder: tuple[int, ...], held_out_persons: int, held_out_countries: int) -> pd.DataFrame:
    """The fact table: every (entity, relation) with its value, designed mention count and held-out flag.

    Rungs of the mention ladder are dealt round-robin over the shuffled facts, so every rung holds about the
    same number of facts of every relation. Held-out entities' facts exist only here (mentions 0)."""
    rng = seeds.rng(seed, "facts")
    nm = lx.names()
    persons, countries = list(nm.persons), list(nm.countries)
    rng.shuffle(persons)
    rng.shuffle(countries)
    capitals = rng.sample(nm.cities, len(countries))
    homes = [c for c in nm.cities if c not in capitals]
    languages = rng.sample(nm.languages, len(countries))
    rows = []
    for i, p in enumerate(persons):
        held = i < held_out_persons
        rows += [(p, "person", "lives_in", rng.choice(homes), held),
                 (p, "person", "works_as", rng.choice(lx.TRADES), held),
                 (p, "person", "has_pet", rng.choice(lx.PETS), held)]
    for i, c in enumerate(countries):
        held = i < held_out_countries
        rows += [(c, "country", "capital", capitals[i], held), (c, "country", "language", languages[i], held)]
    facts = pd.DataFrame(rows, columns=["entity", "kind", "relation", "value", "held_out"])
    live = facts.index[~facts.held_out].tolist()
    rng.shuffle(live)
    facts["mentions"] = 0
    for j, idx in enumerate(live):
        facts.loc[idx, "mentions"] = ladder[j % len(ladder)]
    return facts[["entity", "kind", "relation", "value", "mentions", "held_out"]]


def fact_statement(entity: str, relation: str, value: str, paraphrase: int) -> str:
    templates = RELATIONS[relation][1]
    return templates[paraphrase % len(templates)].format(e=entity, v=value)


def fact_query(entity: str, relation: str, variant: int = 0) -> str:
    questions = RELATIONS[relation][2]
    return questions[variant % len(questions)].format(e=entity)


# ---------------------------------------------------------------------------------------------- narrative
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


# ---------------------------------------------------------------------------------------------- other kinds
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


def fact_documents(facts: pd.DataFrame, qa_share: float, rng: random.Random) -> tuple[list[str], list[str]]:
    """Each live fact exactly ``mentions`` times: statements in rotating paraphrases, and Q&A in chat templates."""
    docs, kinds = [], []
    for row in facts[~facts.held_out].itertuples():
        n_qa = round(row.mentions * qa_share)
        start = rng.randrange(100)
        for i in range(row.mentions):
            if i < n_qa:
                q = fact_query(row.entity, row.relation, start + i)
                docs.append(render(CHAT_TEMPLATES[(start + i) % len(CHAT_TEMPLATES)], q, f"{row.value} ."))
                kinds.append("qa")
            else:
                docs.append(fact_statement(row.entity, row.relation, row.value, start + i))
                kinds.append("fact")
    return docs, kinds


CONTEXT_CUES = ["in a story ,", "in the book ,", "according to the note ,", "suppose that", "in a dream ,"]
P_COUNTERFACTUAL = 0.25  # share of context passages that contradict a known fact of the world


def contexts(n: int, facts: pd.DataFrame, rng: random.Random) -> list[str]:
    """Passage -> question -> answer read from the passage. Most passages are about story-only people (so
    reading them never touches a fact's count); a share contradicts a known fact, so reading can beat a prior."""
    nm = lx.names()
    live = facts[~facts.held_out].reset_index(drop=True)
    domain = {rel: sorted(set(facts.value[facts.relation == rel])) for rel in RELATIONS}
    docs = []
    for _ in range(n):
        if rng.random() < P_COUNTERFACTUAL:
            row = live.iloc[rng.randrange(len(live))]
            entity, relation = row.entity, row.relation
            value = rng.choice([v for v in domain[relation] if v != row.value])
            passage = [(entity, relation, value)]
        else:
            people = rng.sample(nm.story_persons, 2)
            rels = [rng.choice(["lives_in", "works_as", "has_pet"]) for _ in people]
            passage = [(p, r, rng.choice(domain[r])) for p, r in zip(people, rels)][: rng.choice([1, 2])]
            entity, relation, value = rng.choice(passage)
        text = " ".join(f"{rng.choice(CONTEXT_CUES)} {fact_statement(e, r, v, rng.randrange(10))}"
                        for e, r, v in passage)
        question = fact_query(entity, relation, rng.randrange(2))
        docs.append(_join(text, render(rng.choice(CHAT_TEMPLATES), question, f"{value} .")))
    return docs


# ---------------------------------------------------------------------------------------------- instructions
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


# ---------------------------------------------------------------------------------------------- vocabulary
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
    """Every word written by a template of this module or the lexicon (placeholders removed)."""
    words = set()
    for module in (globals(), vars(lx)):
        for name, value in module.items():
            if name.isupper():
                for s in _strings(value):
                    words.update(w for w in re.sub(r"\{\w+\}", " ", s).split())
    return words
