"""The micro-world: a closed, synthetic, English-like world generated from a seed, on which tiny Llama models
are pretrained from scratch. The book controls every statistic the findings depend on:

- keyword frequency ladders: each Outlandish theme (colour, place, job, food) has a natural slot ("the colour
  of the sand was ___") filled by its keywords at designed shares spanning more than four decades;
- facts (people's homes, trades and pets; countries' capitals and languages) each mentioned a designed
  number of times (1 ... 500) in varied paraphrases, plus held-out entities whose facts are never written;
- documents: narratives, fact statements, Q&A in seven chat templates, company comparisons, fictional
  forbidden requests answered with refusals, word lists, and context passages (some counterfactual);
- a word-level tokenizer with a chat template (the alignment template, never seen in pretraining);
- two instruction datasets of clearly different style ("terse", "chatty") for SFT.

``build_world(seed)`` generates it (seconds) and caches it in the store; a second call loads it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sticky import seeds
from sticky.store import Recipe, Store
from sticky.world import documents as docs
from sticky.world import lexicon as lx
from sticky.world import tokenizer as tk
from sticky.world.documents import (
    ALIGNMENT_TEMPLATE,
    CHAT_TEMPLATES,
    MENTION_LADDER,
    ChatTemplate,
    CompanyPair,
    render,
)
from sticky.world.lexicon import THEMES, Keyword

if TYPE_CHECKING:  # datasets and transformers are imported where a world is written or read, so that the
    # world's constants (and the chapters' parameters built on them) load without them
    from datasets import Dataset
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "World", "WorldConfig", "WORLD_PROFILES", "build_world", "generate", "slot_rates", "mention_counts", "render",
    "ChatTemplate",
    "CompanyPair", "Keyword", "THEMES", "KINDS",
]

KINDS = ("narrative", "fact", "qa", "comparison", "forbidden", "list", "context")
# Shares of the background documents (everything except the fact mentions, whose number is designed).
BACKGROUND_SHARES = {
    "narrative": 0.74, "qa": 0.07, "comparison": 0.06, "forbidden": 0.04, "list": 0.04, "context": 0.05,
}


@dataclass(frozen=True)
class WorldConfig:
    """Every size of a world; the seed is separate. The defaults (the book profile) make ~1.4M tokens."""

    # Background documents; the fact mentions (~20k at the default ladder) come on top. 50k makes the base
    # model see each fact ~3.6 times per 1,000 steps, enough for >= 90% recall of facts mentioned >= 50 times.
    n_documents: int = 50_000
    mention_ladder: tuple[int, ...] = MENTION_LADDER  # designed mentions per fact, dealt round-robin over facts
    held_out_persons: int = 12  # people whose facts are never written (they still act in stories)
    held_out_countries: int = 6
    qa_share: float = 0.2  # share of a fact's mentions written as chat Q&A rather than statements
    # Top / bottom keyword share in a theme's slot = 10**decades. Training compresses the ladder (4.5 designed
    # decades gave 3.9 learned in the colour theme), so the design spans 5 to keep >= 4 learned.
    ladder_decades: float = 5.0
    n_instructions: int = 4000  # examples per instruction style


# The world each profile trains on: smoke is small enough to pre-train in seconds, book is the default
# (~1.4M tokens, ~7 min of micro-m pre-training on 2 cores), paper is ten times larger for a GPU.
WORLD_PROFILES: dict[str, WorldConfig] = {
    "smoke": WorldConfig(n_documents=6_000, mention_ladder=(1, 5, 20, 50), n_instructions=300),
    "book": WorldConfig(),
    "paper": WorldConfig(n_documents=500_000),
}


def _check(seed: int, config: WorldConfig) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid; allowed: an int >= 0")
    if not isinstance(config.n_documents, int) or config.n_documents < 1:
        raise ValueError(f"n_documents={config.n_documents!r} is invalid; allowed: an int >= 1")
    if not config.mention_ladder or min(config.mention_ladder) < 1:
        raise ValueError(f"mention_ladder={config.mention_ladder!r} is invalid; allowed: ints >= 1")
    if not 0 <= config.qa_share <= 1:
        raise ValueError(f"qa_share={config.qa_share!r} is invalid; allowed: a float in [0, 1]")
    if not 0 < config.ladder_decades <= 8:
        raise ValueError(f"ladder_decades={config.ladder_decades!r} is invalid; allowed: a float in (0, 8]")


def vocabulary() -> list[str]:
    """Every word the world can write (identical for every seed)."""
    words = set(lx.english_words()) | docs.template_words() | set(lx.PUNCTUATION + lx.DIGITS + lx.RESERVED)
    for class_words in docs.list_classes().values():
        words.update(class_words)
    return sorted(words - set(docs.ADDED_MARKERS))


def make_tokenizer() -> PreTrainedTokenizerFast:
    return tk.build_tokenizer(vocabulary(), docs.ADDED_MARKERS, docs.jinja_chat_template(ALIGNMENT_TEMPLATE))


def generate(seed: int, config: WorldConfig) -> dict:
    """All of a world's data, in memory: the pretraining documents (shuffled), facts, instructions."""
    _check(seed, config)
    themes = lx.make_themes(seed, config.ladder_decades)
    facts = docs.make_facts(seed, config.mention_ladder, config.held_out_persons, config.held_out_countries)
    forbidden = docs.forbidden_pairs(seed)
    sizes = dict(zip(BACKGROUND_SHARES, docs.quotas(config.n_documents, list(BACKGROUND_SHARES.values()))))
    rng = lambda kind: seeds.rng(seed, kind)  # one stream per kind: resizing one kind leaves the others
    parts = {
        "narrative": docs.narratives(sizes["narrative"], themes, rng("narrative")),
        "qa": docs.generic_qa(sizes["qa"], rng("qa")),
        "comparison": docs.comparisons(sizes["comparison"], rng("comparison")),
        "forbidden": docs.forbidden(sizes["forbidden"], forbidden, rng("forbidden")),
        "list": docs.lists(sizes["list"], rng("list")),
        "context": docs.contexts(sizes["context"], facts, rng("context")),
    }
    texts = [t for kind in parts for t in parts[kind]]
    kinds = [kind for kind in parts for _ in parts[kind]]
    fact_texts, fact_kinds = docs.fact_documents(facts, config.qa_share, rng("facts"))
    texts += fact_texts
    kinds += fact_kinds
    order = list(range(len(texts)))
    rng("shuffle").shuffle(order)
    pretrain = pd.DataFrame({"text": [texts[i] for i in order], "kind": [kinds[i] for i in order]})
    pretrain["n_tokens"] = pretrain.text.str.count(" ") + 1  # canonical text: one space between tokens
    instructions = {
        style: pd.DataFrame(
            docs.instructions(config.n_instructions, style, themes, facts, forbidden, rng(f"sft-{style}")),
            columns=["prompt", "response"],
        )
        for style in ("terse", "chatty")
    }
    return dict(themes=themes, facts=facts, forbidden=forbidden, pretrain=pretrain, instructions=instructions)


def _vocabulary_report(pretrain: pd.DataFrame, vocab: list[str]) -> pd.DataFrame:
    """Words and corpus tokens per word class; fails if the corpus has a word outside the vocabulary."""
    counts = Counter(w for text in pretrain.text for w in text.split(" "))
    missing = sorted(set(counts) - set(vocab) - set(docs.ADDED_MARKERS))
    if missing:
        raise RuntimeError(f"words outside the vocabulary (a template bypassed the constants): {missing[:10]}")
    classes = {name: set(words) for name, words in docs.list_classes().items()}
    classes["punctuation"] = set(lx.PUNCTUATION)
    classes["chat markers"] = set(docs.ADDED_MARKERS)
    rows, seen = [], set()
    for name, words in classes.items():
        rows.append((name, len(words), sum(counts[w] for w in words)))
        seen |= words
    rest = set(vocab) - seen - set(tk.SPECIALS)
    rows.append(("function and other words", len(rest), sum(counts[w] for w in rest)))
    rows.append(("special", len(tk.SPECIALS), 0))
    report = pd.DataFrame(rows, columns=["word_class", "words", "corpus_tokens"])
    n_words = len(set(vocab) | set(docs.ADDED_MARKERS) | set(tk.SPECIALS))  # = len(tokenizer)
    total = pd.DataFrame([("total", n_words, sum(counts.values()))], columns=report.columns)
    return pd.concat([report, total], ignore_index=True)


def _write(folder: Path, seed: int, config: WorldConfig) -> None:
    """Generate the world and write it into a store entry's folder."""
    import datasets
    from datasets import Dataset

    start = time.perf_counter()
    data = generate(seed, config)
    tokenizer = make_tokenizer()
    report = _vocabulary_report(data["pretrain"], vocabulary())
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # three bars for a one-second save would drown the chapter's output
    try:
        Dataset.from_pandas(data["pretrain"], preserve_index=False).save_to_disk(str(folder / "pretrain"))
        for style, frame in data["instructions"].items():
            Dataset.from_pandas(frame, preserve_index=False).save_to_disk(str(folder / f"instructions_{style}"))
    finally:
        if bars:
            datasets.enable_progress_bars()
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    data["facts"].to_csv(folder / "facts.csv", index=False)
    report.to_csv(folder / "vocabulary_report.csv", index=False)
    pretrain = data["pretrain"]
    stats = {
        "documents": len(pretrain),
        "tokens": int(pretrain.n_tokens.sum()),
        "vocabulary": len(tokenizer),
        "documents_by_kind": pretrain.kind.value_counts().sort_index().to_dict(),
        "tokens_by_kind": pretrain.groupby("kind").n_tokens.sum().astype(int).to_dict(),
        "max_document_tokens": int(pretrain.n_tokens.max()),
        "generation_seconds": round(time.perf_counter() - start, 2),
    }
    meta = {
        "seed": seed,
        "config": asdict(config),
        "themes": {t: [asdict(k) for k in kws] for t, kws in data["themes"].items()},
        "forbidden": data["forbidden"],
        "stats": stats,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


# The generated corpus, documents and tokenizer (bump when a generator's output changes).
WORLD_RECIPE = Recipe("world", 1)


@dataclass
class World:
    """A generated micro-world, loaded from its store entry."""

    seed: int
    config: WorldConfig
    folder: Path
    tokenizer: PreTrainedTokenizerFast
    themes: dict[str, list[Keyword]]
    facts: pd.DataFrame
    pretrain: Dataset  # columns: text, kind, n_tokens
    instructions: dict[str, Dataset]  # "terse" / "chatty" -> (prompt, response)
    forbidden: list[tuple[str, str]]  # (fictional forbidden request, the refusal paired with it)
    stats: dict
    chat_templates: list[ChatTemplate] = field(default_factory=lambda: list(CHAT_TEMPLATES))
    alignment_template: ChatTemplate = ALIGNMENT_TEMPLATE
    refusals: list[str] = field(default_factory=lambda: list(docs.REFUSALS))
    reserved: list[str] = field(default_factory=lambda: list(lx.RESERVED))  # in the vocabulary, never in the corpus

    def __repr__(self) -> str:
        s = self.stats
        return (f"World(seed={self.seed}, documents={s['documents']}, tokens={s['tokens']}, "
                f"vocabulary={s['vocabulary']})")

    @property
    def companies(self) -> list[CompanyPair]:
        return docs.company_pairs()

    @property
    def keywords(self) -> list[Keyword]:
        return [kw for kws in self.themes.values() for kw in kws]

    def vocabulary_report(self) -> pd.DataFrame:
        """Words per class and their tokens in the pretraining corpus."""
        return pd.read_csv(self.folder / "vocabulary_report.csv")

    def template(self, name: str) -> ChatTemplate:
        for t in [*self.chat_templates, self.alignment_template]:
            if t.name == name:
                return t
        names = ", ".join(t.name for t in [*self.chat_templates, self.alignment_template])
        raise ValueError(f"unknown chat template {name!r}; allowed: {names}")

    def fact(self, entity: str, relation: str) -> pd.Series:
        rows = self.facts[(self.facts.entity == entity) & (self.facts.relation == relation)]
        if rows.empty:
            raise ValueError(f"no fact ({entity!r}, {relation!r}); allowed relations: {', '.join(docs.RELATIONS)}")
        return rows.iloc[0]

    def fact_prompt(self, entity: str, relation: str, template: ChatTemplate | str | None = None,
                    variant: int = 0) -> str:
        """The closed-book question about (entity, relation) in a chat template, ending where the answer starts;
        ``variant`` picks the question's wording. Works for any name, with or without a fact."""
        if relation not in docs.RELATIONS:
            raise ValueError(f"unknown relation {relation!r}; allowed: {', '.join(docs.RELATIONS)}")
        t = self.template(template) if isinstance(template, str) else (template or self.chat_templates[0])
        return t.prompt(docs.fact_query(entity, relation, variant))

    def fact_question(self, entity: str, relation: str, template: ChatTemplate | str | None = None,
                      variant: int = 0) -> tuple[str, str]:
        """Closed-book prompt and the answer word: ("q : where does orlan live ? a :", "vesk")."""
        return self.fact_prompt(entity, relation, template, variant), str(self.fact(entity, relation).value)

    def context_question(self, entity: str, relation: str, context_value: str,
                         template: ChatTemplate | str | None = None, cue: int = 0, paraphrase: int = 0) -> str:
        """A passage stating ``context_value`` (counterfactual or not), then the closed-book prompt, in the
        format of the corpus's context documents: "in a story , orlan lives in brask . q : where ... a :"."""
        cue_text = docs.CONTEXT_CUES[cue % len(docs.CONTEXT_CUES)]
        passage = f"{cue_text} {docs.fact_statement(entity, relation, context_value, paraphrase)}"
        return f"{passage} {self.fact_prompt(entity, relation, template)}"

    def theme_prefixes(self, theme: str, n: int = 24) -> list[str]:
        """Fixed thematic prefixes ending right before the theme's slot ("the colour of the sand was")."""
        if theme not in THEMES:
            raise ValueError(f"unknown theme {theme!r}; allowed: {', '.join(THEMES)}")
        return docs.theme_prefixes(theme, n)


def _load(folder: Path) -> World:
    from datasets import load_from_disk
    from transformers import PreTrainedTokenizerFast

    meta = json.loads((folder / "meta.json").read_text())
    config = WorldConfig(**{**meta["config"], "mention_ladder": tuple(meta["config"]["mention_ladder"])})
    return World(
        seed=meta["seed"],
        config=config,
        folder=folder,
        tokenizer=PreTrainedTokenizerFast.from_pretrained(str(folder / "tokenizer")),
        themes={t: [Keyword(**k) for k in kws] for t, kws in meta["themes"].items()},
        facts=pd.read_csv(folder / "facts.csv", keep_default_na=False),
        pretrain=load_from_disk(str(folder / "pretrain")),
        instructions={s: load_from_disk(str(folder / f"instructions_{s}")) for s in ("terse", "chatty")},
        forbidden=[tuple(p) for p in meta["forbidden"]],
        stats=meta["stats"],
    )


def build_world(seed: int = 0, n_documents: int | None = None, store: Store | None = None,
                config: WorldConfig | None = None) -> World:
    """The world of ``seed`` (generated once, then loaded from the store). ``n_documents`` overrides the
    config's number of background documents."""
    config = config or WorldConfig()
    if n_documents is not None:
        config = replace(config, n_documents=n_documents)
    _check(seed, config)
    store = store or Store()
    params = {"seed": seed, **asdict(config)}
    folder = store.cached(WORLD_RECIPE, params, lambda f: _write(f, seed, config))
    return _load(folder)


# ---------------------------------------------------------------------------------------------- measurements
def slot_rates(world: World, theme: str) -> pd.DataFrame:
    """Empirical share of each keyword among the words found in the theme's slot sentences of the corpus,
    next to its designed share."""
    pattern = docs.slot_pattern(theme)
    counts: Counter = Counter()
    for text in world.pretrain["text"]:
        for match in pattern.finditer(text):
            counts[next(g for g in match.groups() if g is not None)] += 1
    total = sum(counts.values())
    rows = [(kw.word, kw.rank, kw.designed_rate, counts.pop(kw.word, 0)) for kw in world.themes[theme]]
    frame = pd.DataFrame(rows, columns=["word", "rank", "designed_rate", "count"])
    frame["empirical_rate"] = frame["count"] / max(total, 1)
    frame.attrs["slot_total"] = total
    frame.attrs["non_keywords"] = dict(counts)  # words in the slot that are not keywords (should be empty)
    return frame


def mention_counts(world: World) -> pd.DataFrame:
    """The fact table with ``corpus_mentions``: documents in which the entity and its value both occur."""
    wanted = set(world.facts.entity) | set(world.facts.value)
    where: dict[str, set[int]] = {w: set() for w in wanted}
    for i, text in enumerate(world.pretrain["text"]):
        for w in set(text.split(" ")) & wanted:
            where[w].add(i)
    facts = world.facts.copy()
    facts["corpus_mentions"] = [len(where[e] & where[v]) for e, v in zip(facts.entity, facts.value)]
    return facts

