"""Chapter 4's real-model track: the same conflict, interventions and heads on a packaged real model
(Gemma-3-270M in the book) with ``data/facts/countries.csv`` and ``wordfreq`` Zipf frequencies as the
frequency proxy."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from sticky import models
from sticky.store import Store

from .data import entity_split
from .measurement import answer, frequency_analysis, head_experiment, intervention_summary, rates_by

DATA = Path(__file__).resolve().parents[4] / "data" / "facts"


def real_pairs(tokenizer, n: int) -> pd.DataFrame:
    """The first ``n`` pairs of ``countries.csv`` whose capital is one token after a space (and whose first
    tokens are all distinct), with the wordfreq Zipf frequency of the country and the city."""
    from wordfreq import zipf_frequency

    pairs = pd.read_csv(DATA / "countries.csv")
    single = [len(tokenizer(" " + c, add_special_tokens=False)["input_ids"]) == 1 for c in pairs.capital]
    pairs = pairs[single].head(n).reset_index(drop=True)
    pairs["country_zipf"] = [zipf_frequency(c, "en") for c in pairs.country]
    pairs["capital_zipf"] = [zipf_frequency(c, "en") for c in pairs.capital]
    return pairs


# The answer is asked as a cloze after "A:" because Gemma's tokenizer writes a bare space token after "A:"
# (the city then follows without its leading space): the cloze makes the city the very next token.
REAL_QUESTION = "Q: What is the capital of {c}? A: The capital of {c} is"
REAL_PASSAGE = "The capital of {c} is {v}."
REAL_VARIANTS = {
    "baseline": "{passage} {question}",
    "according to the passage": "{passage} Q: According to the passage, what is the capital of {c}? A: "
                                "According to the passage, the capital of {c} is",
    "instruction": "Answer the question using only the context.\nContext: {passage}\n{question}",
    "passage three times": "{passage} {passage} {passage} {question}",
}


def real_closed_book(model, tokenizer, pairs: pd.DataFrame) -> pd.DataFrame:
    """Which capitals the model names without context (greedy first token)."""
    prompts = [REAL_QUESTION.format(c=c) for c in pairs.country]
    scored = answer(model, tokenizer, prompts, list(pairs.capital), list(pairs.capital))
    return pairs.assign(predicted=scored.predicted, correct=scored.memorized)


def real_conflicts(known: pd.DataFrame, all_pairs: pd.DataFrame, per_country: int, seed: int) -> pd.DataFrame:
    """Counterfactual rows for the countries the model knows: other capitals of the list as context cities."""
    from wordfreq import zipf_frequency

    rows = []
    for r in known.itertuples():
        rng = random.Random(f"real-{seed}-{r.country}")
        for city in rng.sample([c for c in all_pairs.capital if c != r.capital], per_country):
            rows.append(dict(fact=r.country, entity=r.country, memory=r.capital, context=city,
                             mentions=10 ** r.country_zipf, country_zipf=r.country_zipf,
                             context_count=10 ** zipf_frequency(city, "en"), split=entity_split(r.country, seed)))
    frame = pd.DataFrame(rows)
    return frame.assign(prompt=[real_prompt(r, "baseline") for r in frame.itertuples()])


def real_prompt(row, variant: str) -> str:
    passage = REAL_PASSAGE.format(c=row.entity, v=row.context)
    return REAL_VARIANTS[variant].format(passage=passage, question=REAL_QUESTION.format(c=row.entity), c=row.entity)


def real_interventions(model, tokenizer, prompts: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for variant in REAL_VARIANTS:
        texts = [real_prompt(r, variant) for r in prompts.itertuples()]
        scored = answer(model, tokenizer, texts, list(prompts.memory), list(prompts.context))
        frames.append(pd.concat([prompts.reset_index(drop=True).assign(variant=variant, text=texts), scored], axis=1))
    return pd.concat(frames, ignore_index=True)


def real_correct_prompts(prompts: pd.DataFrame) -> pd.DataFrame:
    facts = prompts.drop_duplicates("fact").reset_index(drop=True).assign(context=lambda d: d.memory)
    return facts.assign(prompt=[real_prompt(r, "baseline") for r in facts.itertuples()])


def real_track(name: str, n_countries: int, per_country: int, factors: list[float], n_placebo: int, seed: int,
               store: Store | None = None) -> dict:
    """4a on a packaged real model: closed-book filter, conflicts, prompt-only interventions, frequency
    analysis against wordfreq Zipf frequencies, and the head protocol."""
    model, tokenizer = models.load(name, store=store or Store())
    pairs = real_pairs(tokenizer, n_countries)
    closed = real_closed_book(model, tokenizer, pairs)
    prompts = real_conflicts(closed[closed.correct], pairs, per_country, seed)
    scored = real_interventions(model, tokenizer, prompts)
    base = scored[scored.variant == "baseline"]
    median = float(np.median(prompts.country_zipf))
    strong = scored[scored.country_zipf >= median]
    correct = real_correct_prompts(prompts)
    heads = head_experiment(model, tokenizer, prompts, correct, factors, n_placebo, seed)
    return dict(model=model, tokenizer=tokenizer, pairs=pairs, closed=closed, prompts=prompts, scored=scored,
                fit=frequency_analysis(base, seed=seed), strong_zipf=median,
                strong_summary=intervention_summary(strong, seed),
                weak_summary=intervention_summary(scored[scored.country_zipf < median], seed), weak_base_rate=float(
                    base[base.country_zipf < median].in_context.mean()), strong_facts=strong.fact.nunique(),
                rates=rates_by(base.assign(zipf_bin=base.country_zipf.round(0)), "zipf_bin"), heads=heads,
                describe=models.describe(model))
