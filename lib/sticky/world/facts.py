"""Facts and the documents about them: the fact table (who lives where, which country speaks what), each live
fact's statements and chat Q&A (exactly its designed number of mentions), and context passages that state a
fact (some contradicting the world) before a question read from them."""

from __future__ import annotations

import random

import pandas as pd

from sticky import seeds
from sticky.world import lexicon as lx
from sticky.world.chat import CHAT_TEMPLATES, _join, render

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
