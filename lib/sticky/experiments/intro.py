"""Chapter 0: where a run happened, which model tracks work offline, and the micro-world's quality gates.

The gates are what every later chapter stands on: the shared base model must have learned the facts it saw
often (closed-book recall >= 90% at >= 50 mentions), must not "know" facts it never saw (held-out recall
near chance), and its keyword priors must span >= 4 decades (else p_before cannot predict anything).
Later chapters import ``closed_book_recall`` and ``keyword_priors`` from here.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

import numpy as np
import pandas as pd

from sticky import catalog, plots, stats
from sticky.params import SEED_HIGH, Param, Spec

PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(catalog.MICRO_CONFIGS)),
    seed=Param(int, "seed of the base model's initialisation and data order", default=0, low=0, high=SEED_HIGH),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0, high=SEED_HIGH),
    pretrain_steps=Param(
        int, "pre-training steps (None: the profile's recipe)", low=1,
        by_profile={p: r["steps"] for p, r in catalog.PRETRAIN_RECIPES.items()},
    ),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)

PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "peft", "papermill", "jupyter-book", "altair")
RECALL_GATE = 0.90  # closed-book recall required at >= GATE_MENTIONS mentions
GATE_MENTIONS = 50
SPAN_GATE = 4.0  # decades the keyword priors must span within each theme


def environment() -> pd.DataFrame:
    """Python, the key packages' versions, the CPU and whether CUDA is present."""
    import torch

    rows = [("python", platform.python_version()), ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs")]
    rows += [(name, importlib.metadata.version(name)) for name in PACKAGES]
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    rows += [("torch threads", str(torch.get_num_threads())), ("CUDA device", cuda)]
    return pd.DataFrame(rows, columns=["component", "version"]).set_index("component")


def model_tracks() -> pd.DataFrame:
    """Each model track and whether it can run here without a network."""
    rows = [("micro-world", ", ".join(catalog.MICRO_CONFIGS), True, "generated and trained here from a seed")]
    for name, pkg in catalog.PACKAGED.items():
        rows.append(("packaged real", name, catalog.packaged_available(name), f"PyPI package {pkg.distribution}"))
    rows.append(("hub id", "any, e.g. EleutherAI/pythia-410m", False, "needs network (or a filled HF cache)"))
    return pd.DataFrame(rows, columns=["track", "models", "offline", "source"])


def closed_book_recall(model, world) -> pd.DataFrame:
    """Every fact asked as a closed-book question; ``correct`` = the greedy next token is the answer.

    The argmax runs over the whole vocabulary, so a right answer is never helped by a candidate list.
    """
    from sticky import probe  # torch: imported by the functions that probe, not with the chapter's parameters

    questions = [world.fact_question(e, r) for e, r in zip(world.facts.entity, world.facts.relation)]
    answers = world.tokenizer.convert_tokens_to_ids([a for _, a in questions])
    logp = probe.probs_matrix(model, world.tokenizer, [q for q, _ in questions], list(range(len(world.tokenizer))))
    facts = world.facts.copy()
    facts["p_answer"] = logp[np.arange(len(answers)), answers]
    facts["predicted"] = world.tokenizer.convert_ids_to_tokens(logp.argmax(1).tolist())
    facts["correct"] = facts.predicted == facts.value
    # chance: one over the number of values the relation takes (what a model guessing in-type would get)
    facts["chance"] = 1 / facts.groupby("relation").value.transform("nunique")
    return facts


def recall_by_mentions(recall: pd.DataFrame) -> pd.DataFrame:
    """Recall per mention rung (held-out entities as their own row) with Wilson 95% intervals."""
    rung = recall.mentions.astype(str).where(~recall.held_out, "held out")
    rows = []
    for name, group in recall.groupby(rung, sort=False):
        low, high = stats.wilson_interval(int(group.correct.sum()), len(group))
        rows.append(dict(mentions=name, facts=len(group), recall=group.correct.mean(), ci_low=low, ci_high=high,
                         chance=group.chance.mean()))
    table = pd.DataFrame(rows)
    order = {"held out": -1} | {str(m): m for m in recall.mentions.unique()}
    return table.sort_values("mentions", key=lambda s: s.map(order)).reset_index(drop=True)


def keyword_priors(model, world) -> pd.DataFrame:
    """p_before of every keyword: its probability after each of its theme's prefixes, averaged."""
    from sticky import probe
    rows = []
    for theme, keywords in world.themes.items():
        prefixes = world.theme_prefixes(theme)
        p = probe.probs_matrix(model, world.tokenizer, prefixes, [k.word for k in keywords]).mean(0)
        rows += [dict(theme=theme, keyword=k.word, rank=k.rank, designed_rate=k.designed_rate, p_before=float(pi))
                 for k, pi in zip(keywords, p)]
    return pd.DataFrame(rows)


def gates(recall: pd.DataFrame, priors: pd.DataFrame) -> pd.DataFrame:
    """The three gates with the measured value and whether each passes (rules in the module docstring)."""
    frequent = recall[~recall.held_out & (recall.mentions >= GATE_MENTIONS)]
    held_out = recall[recall.held_out]
    spans = priors.groupby("theme").p_before.apply(stats.log10_span)
    held_low, held_high = stats.wilson_interval(int(held_out.correct.sum()), len(held_out))
    rows = [
        ("closed-book recall, facts seen >= 50 times", frequent.correct.mean(), f">= {RECALL_GATE:.0%}",
         frequent.correct.mean() >= RECALL_GATE),
        ("recall on held-out entities", held_out.correct.mean(),
         f"near chance ({held_out.chance.mean():.1%}): its 95% interval reaches it",
         held_low <= held_out.chance.mean()),
        ("smallest keyword-prior span over themes (decades)", spans.min(), f">= {SPAN_GATE:g}",
         spans.min() >= SPAN_GATE),
    ]
    return pd.DataFrame(rows, columns=["gate", "measured", "rule", "passes"])


def examples(world) -> pd.DataFrame:
    """The first document of each kind in the pre-training corpus."""
    frame = world.pretrain.select_columns(["kind", "text"]).to_pandas()
    return frame.drop_duplicates("kind").set_index("kind")


def loss_chart(history: pd.DataFrame):
    import altair as alt

    return alt.Chart(history, title="Pre-training loss falls steadily; no spikes").mark_line().encode(
        x=alt.X("step:Q", title="optimizer step"),
        y=alt.Y("loss:Q", title="next-token cross-entropy (nats)", scale=alt.Scale(zero=False)),
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def recall_chart(by_mentions: pd.DataFrame):
    import altair as alt

    order = list(by_mentions.mentions)
    base = alt.Chart(by_mentions, title="Closed-book recall grows with how often a fact was seen").encode(
        x=alt.X("mentions:N", sort=order, title="mentions of the fact in pre-training"),
    )
    bars = base.mark_point(filled=True, size=60).encode(
        y=alt.Y("recall:Q", title="closed-book recall (95% Wilson interval)", scale=alt.Scale(domain=[0, 1])),
        tooltip=["mentions", "facts", alt.Tooltip("recall:Q", format=".2f")],
    )
    errors = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    gate = alt.Chart(pd.DataFrame({"y": [RECALL_GATE]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
    return (errors + bars + gate).properties(width=plots.WIDTH, height=plots.HEIGHT)


def priors_chart(priors: pd.DataFrame):
    import altair as alt

    span = priors.groupby("theme").p_before.apply(stats.log10_span).min()
    title = f"Keyword priors span at least {span:.1f} decades in every theme, along the designed ladder"
    return alt.Chart(priors, title=title).mark_point().encode(
        x=alt.X("designed_rate:Q", scale=alt.Scale(type="log"), title="designed share of the theme's slot"),
        y=alt.Y("p_before:Q", scale=alt.Scale(type="log"), title="p_before: P(keyword | thematic prefix)"),
        color=alt.Color("theme:N"),
        tooltip=["theme", "keyword", alt.Tooltip("p_before:Q", format=".1e")],
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)
