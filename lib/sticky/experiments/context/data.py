"""What chapter 4 writes: the reading course's documents, the conflict prompts and their prompt-only variants,
the correct-context controls, and for 4b the facts by presence, the elicitation prompts and the fine-tuning
documents. Only words of the world's vocabulary (``check_vocabulary``)."""

from __future__ import annotations

import random
import zlib

import numpy as np
import pandas as pd

from sticky import seeds
from sticky.world import documents as docs

from .parameters import ABSENT_RELATIONS, PERSON_RELATIONS

# ---------------------------------------------------------------------------------------------------------
# 1. the reading course


def reading_course_texts(world, share: float, counterfactual: float, seed: int) -> list[str]:
    """The world's pre-training documents plus new passage -> question -> answer documents making ``share`` of
    the total. They come from the world's own ``contexts`` generator; of them, ``counterfactual`` contradict a
    known fact of the world (the generator writes a quarter so; we keep the share asked for), the rest are
    about story-only people, whose facts the model cannot know."""
    background = list(world.pretrain["text"])
    n_extra = round(len(background) * share / (1 - share))
    known = set(world.facts.entity[~world.facts.held_out])
    n_cf = round(n_extra * counterfactual)
    story, contra, batch = [], [], 0
    while len(story) < n_extra - n_cf or len(contra) < n_cf:
        for text in docs.contexts(max(n_extra, 100), world.facts, random.Random(f"reading-course-{seed}-{batch}")):
            (contra if known & set(text.split(" ")) else story).append(text)
        batch += 1
    texts = background + story[: n_extra - n_cf] + contra[:n_cf]
    seeds.rng(seed, "reading-order").shuffle(texts)
    return texts


# ---------------------------------------------------------------------------------------------------------
# 2. conflict prompts


def entity_split(entity: str, seed: int) -> str:
    """A fixed half of the entities selects heads and factors; the other half evaluates them."""
    return "selection" if zlib.crc32(f"{seed}-{entity}".encode()) % 2 == 0 else "held-out"


def token_counts(world) -> dict[str, int]:
    """Occurrences of every word in the pre-training corpus."""
    from collections import Counter

    return Counter(w for text in world.pretrain["text"] for w in text.split(" "))


def conflict_prompts(world, recall: pd.DataFrame, per_fact: int, seed: int,
                     relations: tuple[str, ...] = PERSON_RELATIONS) -> pd.DataFrame:
    """One row per (kept fact, context value): the facts of ``relations`` that ``recall`` (from
    ``intro.closed_book_recall``) answers correctly, each with ``per_fact`` other values of its relation as the
    passage's value, cues and paraphrases rotating. Adds the corpus count of the context value and the split."""
    kept = recall[recall.correct & ~recall.held_out & recall.relation.isin(relations)]
    domain = {r: sorted(set(world.facts.value[world.facts.relation == r])) for r in relations}
    counts = token_counts(world)
    rows = []
    for f in kept.itertuples():
        rng = random.Random(f"conflict-{seed}-{f.entity}-{f.relation}")
        others = rng.sample([v for v in domain[f.relation] if v != f.value], per_fact)
        for j, value in enumerate(others):
            cue, para = (j + rng.randrange(5)) % len(docs.CONTEXT_CUES), rng.randrange(10)
            rows.append(dict(fact=f"{f.entity}:{f.relation}", entity=f.entity, relation=f.relation, memory=f.value,
                             context=value, mentions=int(f.mentions), context_count=int(counts[value]), cue=cue,
                             paraphrase=para, split=entity_split(f.entity, seed),
                             prompt=world.context_question(f.entity, f.relation, value, cue=cue, paraphrase=para)))
    return pd.DataFrame(rows)


def check_vocabulary(tokenizer, prompts: list[str]) -> None:
    """Refuse prompts with a word outside the (micro-world's closed, word-level) vocabulary."""
    vocab = set(tokenizer.get_vocab())
    missing = sorted({w for p in prompts for w in p.split(" ")} - vocab)
    if missing:
        raise ValueError(f"prompt words outside the world's vocabulary: {missing[:8]}; allowed: its words only")


def correct_context_prompts(world, prompts: pd.DataFrame) -> pd.DataFrame:
    """The same facts with a passage that states the *true* value (context = memory)."""
    facts = prompts.drop_duplicates("fact").reset_index(drop=True)
    texts = [world.context_question(r.entity, r.relation, r.memory, cue=r.cue, paraphrase=r.paraphrase)
             for r in facts.itertuples()]
    return facts.assign(context=facts.memory, prompt=texts)


def strong_rungs(world, n: int = 3) -> list[int]:
    """The top ``n`` rungs of the world's mention ladder: the strong priors."""
    return sorted(world.config.mention_ladder)[-n:]


# ---------------------------------------------------------------------------------------------------------
# 3. prompt-only interventions (micro-world wording: only words the world's vocabulary has)

PROMPT_VARIANTS = {
    "baseline": "the passage, then the question",
    "according to the note": "the passage's cue also opens the question",
    "instruction": "the question asks to answer from the story",
    "passage three times": "the passage repeated three times",
}


def variant_prompt(world, row, variant: str) -> str:
    """The conflict prompt of ``row`` rewritten by a prompt-only intervention (``PROMPT_VARIANTS``)."""
    cue = docs.CONTEXT_CUES[row.cue % len(docs.CONTEXT_CUES)]
    passage = f"{cue} {docs.fact_statement(row.entity, row.relation, row.context, row.paraphrase)}"
    question = docs.fact_query(row.entity, row.relation, 0)
    t = world.chat_templates[0]
    if variant == "baseline":
        return f"{passage} {t.prompt(question)}"
    if variant == "according to the note":
        note = f"according to the note , {docs.fact_statement(row.entity, row.relation, row.context, row.paraphrase)}"
        return f"{note} {t.prompt('according to the note , ' + question)}"
    if variant == "instruction":
        return f"{passage} {t.prompt('please answer from the story . ' + question)}"
    if variant == "passage three times":
        return f"{passage} {passage} {passage} {t.prompt(question)}"
    raise ValueError(f"unknown prompt variant {variant!r}; allowed: {', '.join(PROMPT_VARIANTS)}")


# ---------------------------------------------------------------------------------------------------------
# 4. 4b: facts by presence, elicitation prompts, fine-tuning documents

INSTRUCTIONS = ["please answer the question .", "tell me the answer .", "read the question and answer it ."]
FEW_SHOT_SIZES = (1, 2, 3)
FEW_SHOT_TEMPLATES = ("qa", "asks")


def absent_facts(world) -> pd.DataFrame:
    """Every fact of ``ABSENT_RELATIONS`` with its presence: 'absent' (held-out entity, never written) or its
    mention rung; ``chance`` is one over the number of values of its relation."""
    facts = world.facts[world.facts.relation.isin(ABSENT_RELATIONS)].copy()
    facts["presence"] = np.where(facts.held_out, "absent", facts.mentions.astype(str))
    facts["chance"] = 1 / facts.groupby("relation").value.transform("nunique")
    facts["fact"] = facts.entity + ":" + facts.relation
    return facts.reset_index(drop=True)


def presence_group(presence: pd.Series, rungs: list[int]) -> pd.Series:
    """'absent', or 'present, <= r mentions' bands: rare (lowest third of rungs), medium, frequent (top)."""
    ladder = sorted(rungs)
    third = max(1, len(ladder) // 3)
    low, high = ladder[third - 1], ladder[-third]

    def band(p: str) -> str:
        if p == "absent":
            return "absent"
        m = int(p)
        return "rare" if m <= low else "frequent" if m >= high else "medium"

    return presence.map(band)


def demo_pool(world, rungs: list[int]) -> pd.DataFrame:
    """Facts the few-shot sets may show: present at the top rungs (the model knows them)."""
    f = world.facts
    return f[~f.held_out & f.mentions.isin(rungs)].reset_index(drop=True)


def elicitation_candidates(world) -> list[dict]:
    """>= 20 elicitation-only prompt designs: every chat template x question wording, instructions before the
    question, and few-shot sets of other facts (1-3 shots, two templates). None states the queried fact."""
    cands = [dict(name=f"{t.name} / wording {v}", kind="template", template=t.name, variant=v, instruction="",
                  shots=0) for t in world.chat_templates for v in (0, 1)]
    cands += [dict(name=f"instruction: {i}", kind="instruction", template="qa", variant=0, instruction=i, shots=0)
              for i in INSTRUCTIONS]
    cands += [dict(name=f"{k}-shot / {t}", kind="few-shot", template=t, variant=0, instruction="", shots=k)
              for t in FEW_SHOT_TEMPLATES for k in FEW_SHOT_SIZES]
    return cands


def elicitation_prompt(world, cand: dict, entity: str, relation: str, answer_value: str, pool: pd.DataFrame,
                       seed: int) -> str:
    """The prompt of one candidate for one fact. Few-shot demonstrations are other entities' facts of the
    same relation whose value differs from the queried answer, so the answer never appears in the prompt."""
    t = world.template(cand["template"])
    question = docs.fact_query(entity, relation, cand["variant"])
    user = f"{cand['instruction']} {question}".strip()
    shots = []
    if cand["shots"]:
        rng = random.Random(f"shots-{seed}-{cand['name']}-{relation}")
        demos = pool[(pool.relation == relation) & (pool.entity != entity) & (pool.value != answer_value)]
        for d in demos.sample(n=min(cand["shots"], len(demos)), random_state=rng.randrange(2**31)).itertuples():
            shots.append(docs.render(t, docs.fact_query(d.entity, d.relation, cand["variant"]), f"{d.value} ."))
    return " ".join([*shots, t.prompt(user)])


def leakage(prompts: pd.DataFrame) -> pd.DataFrame:
    """The (candidate, fact) prompts that contain the queried answer as a word (should be none)."""
    hit = [a in p.split(" ") for p, a in zip(prompts.prompt, prompts.value)]
    return prompts[hit]


FT_TEMPLATES_EXCLUDED = ("qa",)  # fine-tuning never shows the evaluation template


def finetune_texts(world, facts: pd.DataFrame, per_fact: int = 10) -> list[str]:
    """Documents that teach ``facts``: statements in rotating paraphrases and Q&A in every chat template but
    the evaluation one (``qa``), so the closed-book test asks in a format fine-tuning never showed."""
    templates = [t for t in world.chat_templates if t.name not in FT_TEMPLATES_EXCLUDED]
    texts = []
    for f in facts.itertuples():
        for i in range(per_fact):
            if i % 2 == 0:
                texts.append(docs.fact_statement(f.entity, f.relation, f.value, i // 2))
            else:
                t = templates[(i // 2) % len(templates)]
                texts.append(docs.render(t, docs.fact_query(f.entity, f.relation, i // 2), f"{f.value} ."))
    return texts
