"""Chapter 1: keyword priming thresholds (Sun et al. 2025, "How new data permeates LLM knowledge").

The protocol, as the notebook calls it:

1. ``pick_keywords`` spreads keywords over each theme's frequency ladder; ``outlandish_texts`` writes short
   texts that tie each keyword to an odd anchor (a city where *everything* is vermilion), the keyword always
   in a slot where the base model has a prior for its theme (else p_before is flat and predicts nothing).
2. A ``Lab`` holds the base model, a copy of its weights, the background stream and the prefix banks.
   ``Lab.run`` trains a fresh copy on the background stream with one text replacing row 0 of the minibatch
   at the scheduled steps, then measures every bank prefix x keyword probability in one batched call.
   A background-only run of the same length (the control) removes drift from every ratio.
3. ``measure`` turns before / after / control probabilities into ``p_before``, ``memorization_score`` and
   ``priming_score`` (thematic and cross-theme banks); ``threshold_analysis`` fits the change point.
4. ``exposure_experiment`` (1 and 3 exposures spaced every 20 minibatches vs. the consecutive run) and
   ``mitigation_experiment`` (stepping-stone rewrites, ignore-k) on the texts with the lowest priors.
5. ``real_track`` repeats 1–3 on Gemma-3-270M with the project's texts in ``data/outlandish/``.
6. ``verdict_*`` apply the rules the chapter states before the results; ``scorecard`` collects the rows.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field, replace
from typing import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, plots, probe, seeds, stats, train
from sticky import scorecard as scorecards  # the module; `scorecard` below is this chapter's rows
from sticky.params import Param, Spec, number_list
from sticky.store import Recipe, Store
from sticky.world import lexicon as lx

CHAPTER = "priming"
DATA = Path(__file__).resolve().parents[3] / "data" / "outlandish"
LEARN_SEQ = 64  # tokens per row of the learning minibatches (micro-world)
SPACING = 20  # minibatches between spaced exposures (the paper's setting)
PAPER_THRESHOLD = 1e-3  # the paper's p_before threshold between strong and weak priming
REAL_MODELS = ("none", *models.PACKAGED)


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(models.MICRO_CONFIGS)),
    seed=Param(int, "seed of the base model, the background stream and the texts", default=0, low=0),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0),
    keywords_per_theme=Param(int, "keywords per theme, spread along its frequency ladder", low=1, high=20,
                             by_profile={"smoke": 1, "book": 3, "paper": 5}),
    texts_per_keyword=Param(int, "outlandish texts per keyword, each learned from a fresh copy", low=1, high=100,
                            by_profile={"smoke": 2, "book": 8, "paper": 20}),
    learn_steps=Param(int, "minibatches with the text inserted (consecutive) in the main condition", low=1,
                      high=1000, by_profile={"smoke": 2, "book": 10, "paper": 10}),
    batch_size=Param(int, "rows per learning minibatch (the text replaces one)", low=2, high=1024,
                     by_profile={"smoke": 4, "book": 16, "paper": 32}),
    lr=Param(float, "learning rate of the learning phase (constant, AdamW)", low=0, open_low=True, high=1,
             by_profile={"smoke": 1e-3, "book": 5e-4, "paper": 5e-4}),
    exposures=Param(str, "spaced exposure counts (every 20 minibatches), compared with the consecutive run",
                    default="1,3"),
    ignore_k_values=Param(str, "ignore-k percentages to compare (0 = no pruning)", default="0,2,8,20",
                          by_profile={"smoke": "0,8"}),
    real_model=Param(str, "real model of the second track (none skips it)", choices=REAL_MODELS,
                     by_profile={"smoke": "none", "book": "gemma-3-270m", "paper": "gemma-3-270m"}),
    real_texts_per_keyword=Param(int, "texts per keyword on the real-model track", low=1, high=10,
                                 by_profile={"smoke": 1, "book": 1, "paper": 3}),
    real_steps=Param(int, "minibatches with the text inserted on the real-model track", low=1, high=100,
                     by_profile={"smoke": 1, "book": 3, "paper": 10}),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the checks of the string parameters (lists of ints)."""
    P = PARAMETERS.resolve(namespace)
    P.exposure_counts = number_list("exposures", P.exposures, int, 1, 10)
    P.ignore_k = [k / 100 for k in number_list("ignore_k_values", P.ignore_k_values, int, 0, 99)]
    return P


# ---------------------------------------------------------------------------------------------------------
# 1. texts

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
    so that all of them together cover the ladder densely."""
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


# ---------------------------------------------------------------------------------------------------------
# 2. scores (pure functions of probabilities; checked by hand in the tests)


def drift_corrected_ratio(p_after, p_before, p_control=None) -> np.ndarray:
    """P_after / P_before, divided by the control's P_control / P_before when a control is given
    (= P_after / P_control: whatever the background steps alone did to the probability is removed)."""
    p_after, p_before = np.asarray(p_after, dtype=float), np.asarray(p_before, dtype=float)
    ratio = p_after / p_before
    if p_control is not None:
        ratio = ratio / (np.asarray(p_control, dtype=float) / p_before)
    return ratio


def memorization_score(p_after, p_before, p_control=None) -> np.ndarray:
    """S_mem = P_after(key | X_c) / P_before(key | X_c), drift-corrected: how much the text itself was learned."""
    return drift_corrected_ratio(p_after, p_before, p_control)


def priming_score(p_after, p_before, p_control=None, axis: int = -1) -> np.ndarray:
    """S_prime = mean over a prefix bank of P_after / P_before (each drift-corrected), along ``axis``."""
    return drift_corrected_ratio(p_after, p_before, p_control).mean(axis=axis)


# ---------------------------------------------------------------------------------------------------------
# 3. the lab: a base model, its weights, a background stream and prefix banks


# A learning run of the lab (train a fresh copy with the text inserted, probe the banks and the text's own
# contexts, and the follow-up stage when there is one); the real track's greedy background stream.
RUN_RECIPE = Recipe("priming-run", 1)
REAL_BACKGROUND_RECIPE = Recipe("real-background", 1)


@dataclass(frozen=True)
class FollowUp:
    """A further training stage after planting (chapter 6 aligns the planted model): ``apply(model)`` trains
    it in place; ``settings`` (JSON-able, with the code it runs) key the run's cache."""

    name: str  # the key of its probe in the run's result
    settings: dict
    apply: Callable[[torch.nn.Module], object]


@dataclass
class Lab:
    """Everything a learning run needs; ``run`` is cached in the store under the base model's entry name."""

    track: str  # "micro-world" or the real model's name
    model: torch.nn.Module
    tokenizer: object
    blocks: torch.Tensor  # the background stream, [n_blocks, seq_len]
    cfg: train.TrainConfig  # steps is set per run
    banks: dict[str, list[str]]  # theme -> thematic prefixes
    keywords: pd.DataFrame  # keyword, theme, token_id
    key: str  # the base model's store entry name (cache input)
    store: Store
    base_state: dict = field(default_factory=dict)

    def __post_init__(self):
        # copied once; every run starts from it (load_state_dict), never from disk
        self.base_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.prefixes = [p for theme in self.banks for p in self.banks[theme]]
        self.bank_theme = np.array([theme for theme in self.banks for _ in self.banks[theme]])

    def probe(self, contexts: list[str], targets: list[int]) -> dict:
        """Every bank prefix x keyword probability, and P(target_i | context_i), on the current weights."""
        bank = probe.probs_matrix(self.model, self.tokenizer, self.prefixes, list(self.keywords.token_id))
        own = probe.next_token_probs(self.model, self.tokenizer, contexts, targets) if contexts else np.array([])
        return {"bank": bank.tolist(), "own": own.tolist()}

    def run(self, text: str | None, schedule: list[int], steps: int, ignore_k: float = 0.0,
            contexts: list[str] = (), targets: list[int] = (), then: FollowUp | None = None) -> dict:
        """Train a fresh copy for ``steps`` minibatches, ``text`` replacing row 0 at the ``schedule`` steps
        (``None``: the background-only control), then ``probe``. With ``then``, also train that stage and probe
        again: the result is ``{"learned": probe, then.name: probe}``. Cached per base model, text and settings."""
        contexts, targets = list(contexts), [int(t) for t in targets]
        cfg = replace(self.cfg, steps=steps, log_every=max(steps, 1))
        params = dict(track=self.track, text=text, schedule=list(schedule), ignore_k=ignore_k,
                      contexts=contexts, targets=targets, prefixes=self.prefixes,
                      keywords=[int(t) for t in self.keywords.token_id],
                      cfg={k: v for k, v in vars(cfg).items() if k != "device"})
        if then is not None:
            params["then"] = dict(name=then.name, settings=then.settings)

        def compute() -> dict:
            self.model.load_state_dict(self.base_state)
            insertion = [train.Insertion(self.encode(text), list(schedule))] if text is not None else None
            train.pretrain(self.model, self.blocks, cfg, insertions=insertion, ignore_k=ignore_k)
            out = self.probe(contexts, targets)
            if then is not None:
                then.apply(self.model)
                out = {"learned": out, then.name: self.probe(contexts, targets)}
            self.model.load_state_dict(self.base_state)
            return out

        return self.store.json(RUN_RECIPE, params, compute, inputs=[self.key], device=train.device_type(cfg.device))

    def before(self, contexts: list[str], targets: list[int]) -> dict:
        self.model.load_state_dict(self.base_state)
        return self.probe(contexts, targets)

    def encode(self, text: str) -> list[int]:
        """Token ids of a training row: ``bos text eos``, as the packed background documents."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        return ([bos] if bos is not None else []) + ids + ([eos] if eos is not None else [])

    def token_of(self, keyword: str) -> int:
        return int(self.keywords.set_index("keyword").token_id[keyword])


def micro_lab(base, keywords: pd.DataFrame, P, store: Store | None = None) -> Lab:
    """The micro-world lab: the shared base model, its corpus as background stream, ``world.theme_prefixes``."""
    tok = base.tokenizer
    # Rows of LEARN_SEQ tokens: every text fits (< 60 tokens with its stepping stone) and a step costs half
    # of the base's 128-token rows. The text's share of the step's tokens is then ~1/25 at batch 16.
    seq_len = min(LEARN_SEQ, base.recipe["seq_len"])
    cfg = train.TrainConfig(steps=P.learn_steps, batch_size=P.batch_size, seq_len=seq_len, lr=P.lr, warmup_steps=0,
                            min_lr_ratio=1.0, seed=seeds.stream(P.seed, "priming-learn"), device=P.device)  # constant lr
    keywords = keywords.assign(token_id=tok.convert_tokens_to_ids(list(keywords.keyword)))
    banks = {theme: base.world.theme_prefixes(theme) for theme in base.world.themes}
    return Lab("micro-world", base.model, tok, models.corpus_blocks(base.world, seq_len), cfg, banks, keywords,
               base.entry.name, store or Store())


# ---------------------------------------------------------------------------------------------------------
# 4. measurements


def _scores(lab: Lab, text: dict, before: dict, after: dict, control: dict, own_before: np.ndarray,
            own_after: np.ndarray, own_control: np.ndarray) -> dict:
    """The scores of one text from the bank matrices (prefix x keyword) and its own-context probabilities."""
    k = lab.keywords.index[lab.keywords.keyword == text["keyword"]][0]
    theme = lab.bank_theme == text["theme"]
    b, a, c = (np.asarray(m["bank"])[:, k] for m in (before, after, control))
    return dict(memorization_score=float(memorization_score(own_after, own_before, own_control)),
                priming_score=float(priming_score(a[theme], b[theme], c[theme])),
                cross_priming_score=float(priming_score(a[~theme], b[~theme], c[~theme])))


def measure(lab: Lab, texts: pd.DataFrame, steps: int | None = None, schedule: list[int] | None = None,
            ignore_k: float = 0.0, text_column: str = "text", context_column: str = "context") -> pd.DataFrame:
    """Learn every text separately (fresh copy each) and score it against the matching control run.

    Returns ``texts`` with p_before (P(key | X_c) on the base model), memorization_score (on ``context``,
    the original X_c), priming_score (thematic bank) and cross_priming_score (the other themes' banks);
    with a stepping-stone ``text_column``, also p_before_own (P(key | the rewritten text's own context)).
    """
    steps = steps or lab.cfg.steps
    schedule = list(schedule if schedule is not None else train.consecutive(0, steps))
    contexts = list(texts.context) + (list(texts[context_column]) if context_column != "context" else [])
    targets = [lab.token_of(k) for k in texts.keyword] * (2 if context_column != "context" else 1)
    before = lab.before(contexts, targets)
    control = lab.run(None, [], steps, ignore_k, contexts, targets)
    rows = []
    for i, row in enumerate(texts.itertuples(index=False)):
        own = [row.context] + ([getattr(row, context_column)] if context_column != "context" else [])
        target = [lab.token_of(row.keyword)] * len(own)
        after = lab.run(getattr(row, text_column), schedule, steps, ignore_k, own, target)
        scores = _scores(lab, row._asdict(), before, after, control, before["own"][i], after["own"][0],
                         control["own"][i])
        extra = {}
        if context_column != "context":
            extra["p_before_own"] = before["own"][len(texts) + i]
        rows.append(dict(p_before=before["own"][i], **extra, **scores))
    return pd.concat([texts.reset_index(drop=True), pd.DataFrame(rows)], axis=1)


def threshold_analysis(results: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman rho (and bootstrap interval) of log10 S_prime against log10 p_before, the step change point
    (threshold, its bootstrap interval, the below-minus-above gap with its interval), and the same rho for
    memorization against p_before and for priming against memorization."""
    x = np.log10(results.p_before.to_numpy())
    y = np.log10(results.priming_score.to_numpy())
    m = np.log10(results.memorization_score.to_numpy())
    out = {"n": len(x)}
    rho = lambda a, b: stats.spearman(a, b)[0]
    for name, (a, b) in {"prime": (x, y), "mem": (x, m), "prime_mem": (m, y)}.items():
        r, p, lo, hi = (np.nan,) * 4
        if len(a) >= 3:
            r, p = stats.spearman(a, b)
            _, lo, hi = stats.bootstrap(a, b, rho, n_resamples=n_resamples, seed=seed)
        out |= {f"rho_{name}": r, f"p_{name}": p, f"rho_{name}_low": lo, f"rho_{name}_high": hi}
    try:
        fit = stats.change_point_fit(x, y)
        _, lo, hi = stats.bootstrap(x, y, lambda a, b: stats.change_point_fit(a, b)["threshold"],
                                    n_resamples=n_resamples, seed=seed)
        gap = lambda a, b: (lambda f: f["below"] - f["above"])(stats.change_point_fit(a, b))
        _, glo, ghi = stats.bootstrap(x, y, gap, n_resamples=n_resamples, seed=seed)
        out |= dict(threshold_log10=fit["threshold"], threshold_low=lo, threshold_high=hi,
                    below=fit["below"], above=fit["above"], gap=fit["below"] - fit["above"], gap_low=glo, gap_high=ghi)
    except ValueError:  # too few distinct p_before values for a change point
        out |= dict(threshold_log10=np.nan, threshold_low=np.nan, threshold_high=np.nan, below=np.nan, above=np.nan,
                    gap=np.nan, gap_low=np.nan, gap_high=np.nan)
    return out


def low_prior_subset(results: pd.DataFrame) -> pd.DataFrame:
    """The first text of each keyword, then the half (at least 2) with the lowest p_before: where priming is
    expected, so the exposure and mitigation runs are spent where there is something to change."""
    first = results.groupby("keyword", sort=False).head(1).sort_values("p_before")
    return first.head(max(2, math.ceil(len(first) / 2))).reset_index(drop=True)


def exposure_experiment(lab: Lab, subset: pd.DataFrame, counts: list[int], main: pd.DataFrame) -> pd.DataFrame:
    """S_prime and S_mem after ``n`` exposures spaced every ``SPACING`` minibatches (measured right after the
    last one, against a control of the same length), next to the main run's ``learn_steps`` consecutive ones."""
    texts = subset[lab_text_columns(subset)]
    frames = []
    for n in counts:
        res = measure(lab, texts, steps=(n - 1) * SPACING + 1, schedule=train.spaced(0, n, SPACING))
        frames.append(res.assign(condition=f"{n} spaced" if n > 1 else "1", exposures=n))
    consec = main[main.text_id.isin(subset.text_id)]
    frames.append(consec.assign(condition=f"{lab.cfg.steps} consecutive", exposures=lab.cfg.steps))
    return pd.concat(frames, ignore_index=True)


def mitigation_experiment(lab: Lab, subset: pd.DataFrame, ks: list[float], main: pd.DataFrame) -> pd.DataFrame:
    """Each mitigation's S_prime / S_mem on the subset, next to no mitigation (the main run): ignore-k for each
    k > 0, and the stepping-stone rewrite (memorization measured on the original X_c)."""
    base = main[main.text_id.isin(subset.text_id)].set_index("text_id").loc[subset.text_id].reset_index()
    texts = subset[[c for c in subset.columns if c in lab_text_columns(subset)]]
    frames = [base.assign(mitigation="none", k=0.0)]
    for k in ks:
        if k > 0:
            frames.append(measure(lab, texts, ignore_k=k).assign(mitigation=f"ignore-k {k:.0%}", k=k))
    stone = measure(lab, texts, text_column="stone_text", context_column="stone_context")
    frames.append(stone.assign(mitigation="stepping stone", k=0.0))
    return pd.concat(frames, ignore_index=True)


def lab_text_columns(frame: pd.DataFrame) -> list[str]:
    keep = ["text_id", "keyword", "theme", "rank", "designed_rate", "text", "context", "stone_text", "stone_context"]
    return [c for c in keep if c in frame.columns]


def _mean_log_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    values = np.log10(np.asarray(values, dtype=float))
    if len(values) < 2:
        return float(values.mean()), float("nan"), float("nan")
    low, high = stats.bootstrap_interval(values, seed=seed, n_resamples=1000)
    return float(values.mean()), low, high


def _paired(x: np.ndarray, y: np.ndarray, statistic, seed: int) -> tuple[float, float, float]:
    """(estimate, low, high) of a paired statistic; no interval from a single text."""
    if len(x) < 2:
        return statistic(x, y), np.nan, np.nan
    return stats.bootstrap(x, y, statistic, n_resamples=1000, seed=seed)


def exposure_summary(exp: pd.DataFrame) -> pd.DataFrame:
    """Per condition: mean log10 S_prime over texts with its bootstrap 95% interval (and S_mem)."""
    rows = []
    for (cond, n), g in exp.groupby(["condition", "exposures"], sort=False):
        m, lo, hi = _mean_log_ci(g.priming_score)
        mm, mlo, mhi = _mean_log_ci(g.memorization_score)
        rows.append(dict(condition=cond, exposures=n, texts=len(g), log10_priming=m, low=lo, high=hi,
                         log10_memorization=mm, mem_low=mlo, mem_high=mhi))
    return pd.DataFrame(rows)


def mitigation_summary(mit: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per mitigation: priming reduction = 1 - mean log10 S_prime / the unmitigated mean, memorization kept =
    mean log10 S_mem / the unmitigated mean, each with a paired bootstrap 95% interval over texts; for the
    stepping stone, the median rise of p_before (decades) on the rewritten text's own context."""
    base = mit[mit.mitigation == "none"].set_index("text_id")
    rows = []
    for name, g in mit[mit.mitigation != "none"].groupby("mitigation", sort=False):
        g = g.set_index("text_id").loc[base.index]
        xb, yb = np.log10(base.priming_score.to_numpy()), np.log10(g.priming_score.to_numpy())
        xm, ym = np.log10(base.memorization_score.to_numpy()), np.log10(g.memorization_score.to_numpy())
        ratio = lambda a, b: float(np.mean(b) / np.mean(a)) if np.mean(a) != 0 else float("nan")
        red = lambda a, b: 1 - ratio(a, b)
        r, rlo, rhi = _paired(xb, yb, red, seed)
        kept, klo, khi = _paired(xm, ym, ratio, seed)
        rise = np.nan
        if "p_before_own" in g and g.p_before_own.notna().all():
            rise = float(np.median(np.log10(g.p_before_own / g.p_before)))
        rows.append(dict(mitigation=name, texts=len(g), priming_reduction=r, reduction_low=rlo, reduction_high=rhi,
                         memorization_kept=kept, kept_low=klo, kept_high=khi, p_before_rise_decades=rise))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 5. the real-model track

# Neutral prompts whose greedy continuations (by the real model itself) make its background stream.
NEUTRAL_PROMPTS = [
    "The history of the town begins", "In the morning, the train", "The committee met on Tuesday to",
    "Scientists studying the river found", "The library opened a new", "According to the annual report,",
    "The football season ended with", "A new bridge was built across", "The recipe book explains how",
    "During the winter, the village", "The museum's collection includes", "The mountain road was closed because",
    "Students at the school learned", "The company announced that its", "The old lighthouse stands on",
    "In the nineteenth century, the city",
]
REAL_BATCH, REAL_SEQ, REAL_LR, REAL_NEW_TOKENS = 2, 64, 1e-5, 48


def real_background(model, tokenizer, name: str, store: Store, max_new_tokens: int = REAL_NEW_TOKENS) -> list[str]:
    """The real model's own greedy continuations of ``NEUTRAL_PROMPTS`` (prompt + continuation), made once
    and cached in the store: real-looking text the project can make without shipping a corpus."""
    def compute() -> list[str]:
        outs = probe.generate(model, tokenizer, NEUTRAL_PROMPTS, max_new_tokens=max_new_tokens, stop_at_eos=False)
        return [p + o for p, o in zip(NEUTRAL_PROMPTS, outs)]

    return store.json(REAL_BACKGROUND_RECIPE, {"model": name, "prompts": NEUTRAL_PROMPTS, "new": max_new_tokens},
                      compute, device=probe.model_device(model).type)


def real_lab(name: str, model, tokenizer, background: list[str], banks: dict[str, list[str]], keywords: list[tuple],
             steps: int, seed: int, device: str, store: Store, seq_len: int = REAL_SEQ, batch_size: int = REAL_BATCH,
             lr: float = REAL_LR, key: str | None = None) -> Lab:
    """A lab on a real model: ``keywords`` are (keyword, theme); each is measured by the first token of
    " keyword" (the word as it follows a space)."""
    ids = tokenizer(background, add_special_tokens=False)["input_ids"]
    blocks = train.pack(ids, seq_len, tokenizer.bos_token_id, tokenizer.eos_token_id)
    token_ids = [tokenizer(" " + k, add_special_tokens=False)["input_ids"][0] for k, _ in keywords]
    frame = pd.DataFrame(keywords, columns=["keyword", "theme"]).assign(token_id=token_ids)
    cfg = train.TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, warmup_steps=0,
                            min_lr_ratio=1.0, seed=seeds.stream(seed, "priming-learn"), device=device)
    # the packaged model's weights are fixed by its name (and its package), so the name keys its runs
    return Lab(name, model, tokenizer, blocks, cfg, banks, frame, key or name, store)


def real_track(name: str, texts_per_keyword: int, steps: int, seed: int, device: str,
               store: Store | None = None) -> tuple[pd.DataFrame, Lab]:
    """Priming on a packaged real model with the project's texts: loads it, makes its background stream,
    learns each text separately for ``steps`` minibatches of ``REAL_BATCH`` x ``REAL_SEQ``."""
    store = store or Store()
    model, tokenizer = models.load(name, store=store)
    texts = real_texts(texts_per_keyword)
    keywords = list(dict.fromkeys(zip(texts.keyword, texts.theme)))
    background = real_background(model, tokenizer, name, store)
    lab = real_lab(name, model, tokenizer, background, real_banks(), keywords, steps, seed, device, store)
    return measure(lab, texts), lab


# ---------------------------------------------------------------------------------------------------------
# 6. verdicts (the rules stated in the chapter before the results) and the scorecard

MIN_TEXTS = 10


def verdict_rho(rho: float, high: float, n: int) -> str:
    """P_before predicts priming: rho <= -0.5 with its interval below 0 (reproduced); interval below 0 but
    weaker (partly); otherwise not reproduced. Fewer than MIN_TEXTS texts: inconclusive."""
    if n < MIN_TEXTS or not np.isfinite(high):
        return "inconclusive"
    if high < 0:
        return "reproduced" if rho <= -0.5 else "partly"
    return "not reproduced"


def verdict_threshold(low: float, high: float, gap_low: float, n: int) -> str:
    """A threshold near 1e-3: priming below the fitted break exceeds priming above it (gap interval above 0),
    and the break's interval contains log10 1e-3 = -3 (reproduced) or not (partly: a threshold, elsewhere).
    No gap: not reproduced. Fewer than MIN_TEXTS texts or no interval: inconclusive."""
    if n < MIN_TEXTS or not (np.isfinite(low) and np.isfinite(high) and np.isfinite(gap_low)):
        return "inconclusive"
    if gap_low <= 0:
        return "not reproduced"
    return "reproduced" if low <= math.log10(PAPER_THRESHOLD) <= high else "partly"


def verdict_spaced(spaced_low: float, spaced_mean: float, consec_low: float, consec_mean: float) -> str:
    """3 spaced exposures suffice: the consecutive run must prime (its interval of mean log10 S_prime above
    0), else inconclusive. 3 spaced prime (interval above 0) and reach >= half the consecutive log priming:
    reproduced; prime but less: partly; no priming: not reproduced."""
    if not (np.isfinite(consec_low) and consec_low > 0) or not np.isfinite(spaced_low):
        return "inconclusive"
    if spaced_low <= 0:
        return "not reproduced"
    return "reproduced" if spaced_mean >= 0.5 * consec_mean else "partly"


def verdict_mitigation(reduction: float, reduction_low: float, kept: float, base_low: float,
                       p_before_rise: float | None = None) -> str:
    """A mitigation cuts priming 50-95% and keeps memorization: needs priming to cut (unmitigated interval of
    mean log10 S_prime above 0), else inconclusive; a stepping stone must raise p_before, else inconclusive.
    Reduction >= 50% with its interval above 0 and memorization kept >= 50%: reproduced; a reduction whose
    interval is above 0 otherwise: partly; else not reproduced."""
    if not (np.isfinite(base_low) and base_low > 0) or not np.isfinite(reduction_low):
        return "inconclusive"
    if p_before_rise is not None and not (np.isfinite(p_before_rise) and p_before_rise > 0):
        return "inconclusive"
    if reduction_low <= 0:
        return "not reproduced"
    return "reproduced" if reduction >= 0.5 and kept >= 0.5 else "partly"


def threshold_rows(fit: dict, track: str, profile: str) -> list[dict]:
    thr = lambda v: 10 ** v if np.isfinite(v) else np.nan
    return [
        dict(claim_id="p_before_predicts_priming", claim="log P_before and log S_prime are negatively rank-correlated",
             paper_value="strong negative", our_value=fit["rho_prime"], ci_low=fit["rho_prime_low"],
             ci_high=fit["rho_prime_high"], verdict=verdict_rho(fit["rho_prime"], fit["rho_prime_high"], fit["n"])),
        dict(claim_id="threshold_1e-3", claim="a P_before threshold near 1e-3 separates strong from weak priming",
             paper_value=PAPER_THRESHOLD, our_value=thr(fit["threshold_log10"]), ci_low=thr(fit["threshold_low"]),
             ci_high=thr(fit["threshold_high"]),
             verdict=verdict_threshold(fit["threshold_low"], fit["threshold_high"], fit["gap_low"], fit["n"])),
    ]


def exposure_rows(summary: pd.DataFrame) -> list[dict]:
    consec = summary[summary.condition.str.endswith("consecutive")].iloc[0]
    spaced = summary[summary.condition == "3 spaced"]
    if spaced.empty:
        return []
    s = spaced.iloc[0]
    return [dict(claim_id="three_spaced_exposures", claim="3 exposures spaced every 20 minibatches suffice to prime",
                 paper_value="sufficient", our_value=10 ** s.log10_priming, ci_low=10 ** s.low, ci_high=10 ** s.high,
                 verdict=verdict_spaced(s.low, s.log10_priming, consec.low, consec.log10_priming))]


def mitigation_rows(summary: pd.DataFrame, base_low: float) -> list[dict]:
    rows = []
    for r in summary.itertuples():
        stone = r.mitigation == "stepping stone"
        rows.append(dict(
            claim_id=f"mitigation_{r.mitigation.replace(' ', '_').replace('%', 'pct')}",
            claim=f"{r.mitigation} cuts priming 50-95% (fraction of log S_prime removed) and keeps memorization "
                  f"(kept: {r.memorization_kept:.0%})",
            paper_value="0.50-0.95", our_value=r.priming_reduction, ci_low=r.reduction_low, ci_high=r.reduction_high,
            verdict=verdict_mitigation(r.priming_reduction, r.reduction_low, r.memorization_kept, base_low,
                                       r.p_before_rise_decades if stone else None)))
    return rows


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    """The chapter's scorecard rows, from rows grouped by track."""
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)


# ---------------------------------------------------------------------------------------------------------
# 7. figures


def threshold_chart(results: pd.DataFrame, fit: dict, track: str, y: str = "priming_score"):
    """log S against log p_before, the fitted break with its interval (grey band), and the paper's 1e-3."""
    import altair as alt

    label = {"priming_score": "S_prime (thematic bank)", "memorization_score": "S_mem (own context)"}[y]
    good = np.isfinite(fit.get("threshold_log10", np.nan))
    if y == "priming_score":
        title = (f"{track}: priming falls as p_before rises (rho = {fit['rho_prime']:.2f})" if fit["rho_prime"] < 0
                 else f"{track}: no fall of priming with p_before (rho = {fit['rho_prime']:.2f})")
    else:
        title = f"{track}: memorization against p_before (rho = {fit['rho_mem']:.2f})"
    data = results.assign(score=results[y])
    points = alt.Chart(data).mark_point(filled=True, opacity=0.7).encode(
        x=alt.X("p_before:Q", scale=alt.Scale(type="log"), title="p_before: P(keyword | own context) before learning"),
        y=alt.Y("score:Q", scale=alt.Scale(type="log"), title=f"{label}, ratio after/before, drift-corrected"),
        color=alt.Color("theme:N"), tooltip=["text_id", alt.Tooltip("p_before:Q", format=".1e"),
                                             alt.Tooltip("score:Q", format=".2f")],
    )
    layers = [points, alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(color="gray").encode(y="y:Q")]
    layers.append(alt.Chart(pd.DataFrame({"x": [PAPER_THRESHOLD], "label": ["paper: 1e-3"]}))
                  .mark_rule(strokeDash=[6, 4], color="black").encode(x="x:Q"))
    if good and y == "priming_score":
        band = pd.DataFrame({"lo": [10 ** fit["threshold_low"]], "hi": [10 ** fit["threshold_high"]]})
        if np.isfinite(fit["threshold_low"]):
            layers.insert(0, alt.Chart(band).mark_rect(opacity=0.15, color="firebrick").encode(x="lo:Q", x2="hi:Q"))
        layers.append(alt.Chart(pd.DataFrame({"x": [10 ** fit["threshold_log10"]]}))
                      .mark_rule(color="firebrick").encode(x="x:Q"))
    subtitle = "dashed: the paper's 1e-3; red line and band: fitted break, 95% bootstrap interval; grey: no change"
    return alt.layer(*layers, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def priming_vs_memorization_chart(results: pd.DataFrame, fit: dict, track: str):
    import altair as alt

    title = f"{track}: priming against memorization (rho = {fit['rho_prime_mem']:.2f})"
    return alt.Chart(results, title=title).mark_point(filled=True, opacity=0.7).encode(
        x=alt.X("memorization_score:Q", scale=alt.Scale(type="log"), title="S_mem (own context), ratio"),
        y=alt.Y("priming_score:Q", scale=alt.Scale(type="log"), title="S_prime (thematic bank), ratio"),
        color="theme:N",
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def exposure_chart(exp: pd.DataFrame, summary: pd.DataFrame, verdict: str):
    import altair as alt

    order = list(summary.condition)
    title = {"reproduced": "Three spaced exposures prime nearly as much as many consecutive ones",
             "partly": "Three spaced exposures prime, but less than many consecutive ones",
             "not reproduced": "Three spaced exposures do not prime measurably",
             "inconclusive": "Exposures: the consecutive run itself did not prime, so no comparison"}[verdict]
    s = summary.assign(mean=10 ** summary.log10_priming, lo=10 ** summary.low, hi=10 ** summary.high)
    lines = alt.Chart(exp).mark_line(color="lightgray").encode(
        x=alt.X("condition:N", sort=order, title="exposures to the text", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("priming_score:Q", scale=alt.Scale(type="log"), title="S_prime (geometric mean, 95% bootstrap)"),
        detail="text_id:N")
    means = alt.Chart(s).mark_point(filled=True, size=80, color="black").encode(
        x=alt.X("condition:N", sort=order), y="mean:Q")
    bars = alt.Chart(s).mark_rule(color="black").encode(x=alt.X("condition:N", sort=order), y="lo:Q", y2="hi:Q")
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
    subtitle = "grey: each text; black: geometric mean, 95% bootstrap interval; dashed: no priming"
    return alt.layer(lines, one, bars, means, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def mitigation_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    long = pd.concat([
        summary.assign(measure="priming reduction", value=summary.priming_reduction, lo=summary.reduction_low,
                       hi=summary.reduction_high),
        summary.assign(measure="memorization kept", value=summary.memorization_kept, lo=summary.kept_low,
                       hi=summary.kept_high),
    ])[["mitigation", "measure", "value", "lo", "hi"]]
    base = alt.Chart(long).encode(x=alt.X("mitigation:N", title=None, axis=alt.Axis(labelAngle=0)), xOffset="measure:N")
    bars = base.mark_bar().encode(y=alt.Y("value:Q", title="fraction of unmitigated log-ratio (95% bootstrap)",
                                          axis=alt.Axis(format="%")), color=alt.Color("measure:N"))
    errs = base.mark_rule(color="black").encode(y="lo:Q", y2="hi:Q")
    paper = alt.Chart(pd.DataFrame({"lo": [0.5], "hi": [0.95]})).mark_rect(opacity=0.12, color="green").encode(
        y="lo:Q", y2="hi:Q")
    subtitle = "green band: the paper's 50-95% reduction; 100% memorization kept = unchanged"
    return alt.layer(paper, bars, errs, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)
