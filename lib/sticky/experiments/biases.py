"""Chapter 3: where cognitive biases come from (Itzhak, Belinkov, Stanovsky 2025, "Planted in Pretraining,
Swayed by Finetuning").

The protocol, as the notebook calls it:

1. ``BIAS_TYPES``: seven decision biases written with the micro-world's own words. Each has a short story in
   a *control* and a *treatment* variant (the treatment adds the cue: a loss frame, an anchor, a sure
   option, an owned product, what most people chose, one good product, coins already spent) and two answer
   options, one of them the *biased* option. ``bias_documents`` plants them in pre-training text: in a
   treatment story the biased option is chosen with probability ``(1 + dial) / 2`` (dial 0: no bias, +1:
   always the biased option, -1: always the other), in a control story half the time. The probe question
   and the probe's chat template are *held out*: no planted document or instruction example uses them, so a
   probe can only show a bias the model learned, not one written into the probe.
2. ``backbone``: the shared book base model, continued-pretrained on world background text plus the bias
   documents of one *bias profile* (a dial per bias), with its own seed. Two profiles, two backbones.
3. ``instruction_set``: the world's two instruction datasets (terse, chatty), each with a share ``dose`` of
   its examples replaced by bias examples of its own profile, so backbone and instruction data compete.
4. ``tuned``: full fine-tuning (SFT), the same recipe in every cell; the seed sets the data order and the draw
   of bias examples. ``cross_tune`` runs backbone x instruction set x seed.
5. ``probe_items`` / ``measure``: every model answers every scenario in both variants; the chosen-option
   probabilities (renormalised over the two options; for anchoring, the expected number) are scored with
   the card's formulas (``choice_score``, ``ratio_scale_score``).
6. ``grouping_analysis``: silhouette, Calinski-Harabasz, Davies-Bouldin of the model vectors grouped by
   backbone and by instruction data, each with a permutation p-value; KMeans(2) ARI/NMI against each grouping;
   ``seed_analysis``: per-bias seed sd against between-backbone differences.
7. ``dose_sweep``: the cross-tuning again at several instruction doses, to find where the balance tips.

The real-model track (the battery in natural English, and the real cross-tuning of the ``paper`` profile) is
in ``biases_real``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, plots, probe, seeds, stats, train
from sticky import scorecard as scorecards
from sticky.params import Param, Spec, number_list
from sticky.store import Recipe, Store
from sticky.world import documents as docs
from sticky.world import lexicon as lx

CHAPTER = "biases"
PAPER = dict(silhouette_backbone=0.066, silhouette_data=0.034, silhouette_random=0.008, ch_backbone=1.97,
             ch_data=1.44, p_backbone=0.001, p_data=0.044, framing_olmo_low=0.36)
SEQ_LEN = 96  # tokens per fine-tuning row (every instruction example fits)
BACKBONE_SEQ = 64  # tokens per continued-pretraining row (planted documents are at most ~60 tokens)
REAL_MODELS = ("none", *models.PACKAGED)


def _profile_text(profile: dict[str, float]) -> str:
    return ",".join(f"{b}={v:g}" for b, v in profile.items())


# The planted profiles. Backbone A: every bias at full strength (a world written by biased people). Backbone
# B: the decision-under-risk biases and anchoring reversed, the social ones (status quo, bandwagon, halo) the
# same, so the backbones differ on four biases and agree on three. The instruction sets push in a direction
# orthogonal to that: terse +1 / chatty -1 on alternate biases.
PROFILE_A = {"framing": 1.0, "anchoring": 1.0, "certainty": 1.0, "status_quo": 1.0, "bandwagon": 1.0, "halo": 1.0,
             "sunk_cost": 1.0}
PROFILE_B = dict(PROFILE_A, framing=-1.0, anchoring=-1.0, certainty=-1.0, sunk_cost=-1.0)
PROFILE_TERSE = {b: (1.0 if i % 2 == 0 else -1.0) for i, b in enumerate(PROFILE_A)}
PROFILE_CHATTY = {b: -v for b, v in PROFILE_TERSE.items()}


PARAMETERS = Spec(
    model=Param(str, "micro-world base model size", default="micro-m", choices=tuple(models.MICRO_CONFIGS)),
    seed=Param(int, "seed of the shared base model", default=0, low=0),
    world_seed=Param(int, "seed of the generated micro-world", default=0, low=0),
    profile_a=Param(str, "bias profile planted in backbone A: a dial from -1 to 1 per bias (see biases.PROFILE_A)",
                    default=_profile_text(PROFILE_A)),
    profile_b=Param(str, "bias profile planted in backbone B", default=_profile_text(PROFILE_B)),
    profile_terse=Param(str, "bias profile of the terse instruction set's bias examples",
                        default=_profile_text(PROFILE_TERSE)),
    profile_chatty=Param(str, "bias profile of the chatty instruction set's bias examples",
                         default=_profile_text(PROFILE_CHATTY)),
    bias_documents=Param(int, "planted bias documents per backbone", low=7, high=1_000_000,
                         by_profile={"smoke": 140, "book": 4200, "paper": 42000}),
    bias_share=Param(float, "share of continued-pretraining rows made of planted documents", low=0, high=1,
                     open_low=True, open_high=True, default=0.5),
    backbone_steps=Param(int, "continued-pretraining steps per backbone", low=1, high=100_000,
                         by_profile={"smoke": 15, "book": 300, "paper": 3000}),
    backbone_lr=Param(float, "continued-pretraining peak learning rate", low=0, open_low=True, high=1, default=2e-3),
    sft_steps=Param(int, "fine-tuning steps per tuned model (same recipe in every cell)", low=1, high=100_000,
                    by_profile={"smoke": 8, "book": 60, "paper": 1500}),
    sft_lr=Param(float, "fine-tuning peak learning rate", low=0, open_low=True, high=1, default=5e-4),
    batch_size=Param(int, "rows per step (continued pretraining and fine-tuning)", low=2, high=1024,
                     by_profile={"smoke": 8, "book": 32, "paper": 64}),
    instruction_dose=Param(float, "share of each instruction set replaced by its bias examples (headline)",
                           low=0, high=1, default=0.05),
    dose_sweep=Param(str, "instruction doses of the sweep (comma-separated, in [0, 1])",
                     by_profile={"smoke": "0,0.3", "book": "0,0.05,0.3,0.8", "paper": "0,0.02,0.05,0.1,0.2,0.4"}),
    sweep_seeds=Param(int, "seeds per cell in the dose sweep", low=1, high=10,
                      by_profile={"smoke": 1, "book": 2, "paper": 3}),
    seeds=Param(int, "seeds per backbone x instruction-set cell (data order and bias-example draw)", low=2, high=10,
                by_profile={"smoke": 2, "book": 3, "paper": 5}),
    scenarios=Param(int, "probe scenarios per bias (each a control/treatment pair)", low=5, high=200,
                    by_profile={"smoke": 5, "book": 8, "paper": 30}),
    permutations=Param(int, "label permutations per p-value", low=100, high=100_000,
                       by_profile={"smoke": 200, "book": 1000, "paper": 10000}),
    gate_min_diff=Param(float, "gate: smallest backbone difference that counts as showing a planted difference",
                        low=0, high=2, default=0.05),
    real_models=Param(str, "real models of the second track (comma-separated) or none",
                      by_profile={"smoke": "none", "book": "smollm2-135m-instruct,gemma-3-270m",
                                  "paper": "smollm2-135m-instruct,gemma-3-270m"}),
    real_backbones=Param(str, "the two real backbones of the real cross-tuning (packaged names or hub ids, "
                         "comma-separated) or none", by_profile={"smoke": "none", "book": "none",
                                                                 "paper": "gemma-3-270m,smollm2-135m-instruct"}),
    real_examples=Param(int, "examples in each English instruction set of the real cross-tuning", low=8,
                        high=10_000_000, by_profile={"smoke": 64, "book": 2000, "paper": 30000}),
    real_steps=Param(int, "LoRA steps per real tuned model (same recipe in every cell)", low=1, high=1_000_000,
                     by_profile={"smoke": 2, "book": 100, "paper": 2800}),
    real_batch_size=Param(int, "examples per LoRA step of the real cross-tuning", low=1, high=1024,
                          by_profile={"smoke": 2, "book": 8, "paper": 32}),
    real_lr=Param(float, "LoRA peak learning rate of the real cross-tuning", low=0, open_low=True, high=1,
                  default=2e-4),
    lora_rank=Param(int, "LoRA rank of the real cross-tuning (alpha twice the rank; every linear layer)", low=1,
                    high=4096, default=64),
    real_seeds=Param(int, "seeds per real backbone x instruction-set cell (data order and adapter initialisation)",
                     low=2, high=10, default=3),
    device=Param(str, "where to train: auto picks CUDA when present", default="auto", choices=("auto", "cpu", "cuda")),
)


def resolve(namespace) -> object:
    """``PARAMETERS.resolve`` plus the checks of the string parameters (profiles, doses, model lists)."""
    P = PARAMETERS.resolve(namespace)
    P.profiles = {"A": parse_profile("profile_a", P.profile_a), "B": parse_profile("profile_b", P.profile_b),
                  "terse": parse_profile("profile_terse", P.profile_terse),
                  "chatty": parse_profile("profile_chatty", P.profile_chatty)}
    P.doses = sorted(set(number_list("dose_sweep", P.dose_sweep, float, 0, 1)))
    names = [n.strip() for n in P.real_models.split(",") if n.strip()]
    if not names or any(n not in REAL_MODELS for n in names) or ("none" in names and len(names) > 1):
        raise ValueError(f"parameter 'real_models' got {P.real_models!r}; allowed: none, or a comma-separated subset "
                         f"of {', '.join(models.PACKAGED)}")
    P.real = [] if names == ["none"] else names
    P.real_backbones = real_backbone_names(P.real_backbones)
    return P


def real_backbone_names(text: str) -> list[str]:
    """``none`` or two distinct loadable models (packaged names, or hub ids when online or cached), else a
    one-line ValueError naming the parameter."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    allowed = f"none, or two distinct comma-separated models: {', '.join(models.PACKAGED)} or hub ids owner/name"
    if names == ["none"]:
        return []
    if len(names) != 2 or len(set(names)) != 2 or "none" in names or any(n in models.MICRO_CONFIGS for n in names):
        raise ValueError(f"parameter 'real_backbones' got {text!r}; allowed: {allowed}")
    for name in names:
        try:
            models.check_name(name)
        except ValueError as err:
            raise ValueError(f"parameter 'real_backbones' got {text!r}: {err}") from None
    return names


# ---------------------------------------------------------------------------------------------------------
# 1. the biases, in the micro-world's words


@dataclass(frozen=True)
class BiasType:
    """One bias: story templates (control, treatment), planted answer sentences and questions, the held-out
    probe question, and whether its answer is a choice between two options or a number (anchoring)."""

    name: str
    stories: tuple[tuple[str, str], ...]  # (control, treatment) wordings of the scenario
    narrative: tuple[str, ...]  # planted: "{story} ... {X} ." sentences that state the choice
    questions: tuple[str, ...]  # planted chat questions (the answer is "{X} .")
    probe_question: str  # held out: never in a planted document or instruction
    numeric: bool = False  # True: the answer is a number word (anchoring), scored by the ratio-scale formula
    description: str = ""



BIAS_TYPES: dict[str, BiasType] = {b.name: b for b in [
    BiasType(
        "framing",
        stories=(
            ("{name} had {N} coins at risk . with the safe deal , {name} would keep {k} of the {N} coins . "
             "with the risk , {name} may keep {N} coins or zero coins .",
             "{name} had {N} coins at risk . with the safe deal , {name} would have lost {l} of the {N} coins . "
             "with the risk , {name} may have lost zero coins or {N} coins ."),
            ("{name} had {N} coins . the safe deal would keep {k} of them . the risk may keep "
             "{N} of them or zero .",
             "{name} had {N} coins . the safe deal would have lost {l} of them . the risk may have "
             "lost zero of them or {N} ."),
            ("{name} could keep {k} of {N} coins with the safe deal , or take the risk and keep {N} or zero .",
             "{name} would have lost {l} of {N} coins with the safe deal , or take the risk and have lost "
             "zero or {N} ."),
        ),
        narrative=("{story} {name} chose the {X} .", "{story} later , {name} thought the {X} was better ."),
        questions=("{story} which is better , the safe deal or the risk ?", "{story} what was better for {name} ?"),
        probe_question="{story} which would you take ?",
        description="the same gamble described as coins kept (control) or coins lost (treatment); biased option: "
                    "the risk under the loss frame",
    ),
    BiasType(
        "anchoring",
        stories=(
            ("{name} must count the {product} in the {room} .",
             "{name} must count the {product} in the {room} . someone said {A} ."),
            ("in the {room} there is a box of {product} . {name} must count them .",
             "in the {room} there is a box of {product} . someone said {A} . {name} must count them ."),
            ("{name} looked at the {product} in the {room} and had to count them .",
             "someone said {A} . {name} looked at the {product} in the {room} and had to count them ."),
        ),
        narrative=("{story} {name} said {X} .", "{story} {name} thought it was {X} ."),
        questions=("{story} what was the count of {name} ?", "{story} what is the count ?"),
        probe_question="{story} what would you say ?",
        numeric=True,
        description="a count estimated with or without a number said first (the anchor, low or high); scored "
                    "by how far the expected answer moves toward the anchor",
    ),
    BiasType(
        "certainty",
        stories=(
            ("deal one : {name} may win {n} coins . deal two : {name} may win {m} coins .",
             "deal one : {name} will win {n} coins for sure . deal two : {name} may win {m} coins ."),
            ("with deal one , {name} may get {n} coins . with deal two , {name} may get {m} coins .",
             "with deal one , {name} will get {n} coins for sure . with deal two , {name} may get {m} coins ."),
            ("{name} may win {n} coins with deal one , or may win {m} coins with deal two .",
             "{name} will win {n} coins for sure with deal one , or may win {m} coins with deal two ."),
        ),
        narrative=("{story} {name} chose deal {X} .", "{story} so {name} chose deal {X} ."),
        questions=("{story} which deal is better ?", "{story} which deal was better for {name} ?"),
        probe_question="{story} which deal would you take ?",
        description="a smaller and a larger prize, both uncertain (control) or the smaller one sure (treatment); "
                    "biased option: the smaller, sure deal",
    ),
    BiasType(
        "status_quo",
        stories=(
            ("{name} needed new {product} . {a} and {b} make {product} .",
             "{name} has old {product} from {s} and needed new {product} . {a} and {b} make {product} ."),
            ("{a} makes {product} and {b} makes {product} . {name} needed new {product} .",
             "{a} makes {product} and {b} makes {product} . {name} needed new {product} , and the old {product} "
             "came from {s} ."),
            ("{name} must buy {product} from {a} or from {b} .",
             "{name} has {product} from {s} and must buy new {product} from {a} or from {b} ."),
        ),
        narrative=("{story} {name} chose to buy from {X} .", "{story} so {name} will buy from {X} ."),
        questions=("{story} which company is better for {name} ?", "{story} who will {name} buy from ?"),
        probe_question="{story} which company would you buy from ?",
        description="two companies, neither (control) or one of them already the supplier (treatment); biased "
                    "option: the current supplier",
    ),
    BiasType(
        "bandwagon",
        stories=(
            ("for dinner , {name} could have {f1} or {f2} .",
             "for dinner , {name} could have {f1} or {f2} . most people in the town had {s} ."),
            ("at the {room} , {name} must have {f1} or {f2} .",
             "at the {room} , {name} must have {f1} or {f2} . most people say {s} is good ."),
            ("{name} can have {f1} or {f2} for dinner .",
             "{name} can have {f1} or {f2} for dinner , and most people chose {s} ."),
        ),
        narrative=("{story} {name} chose {X} .", "{story} so {name} had {X} ."),
        questions=("{story} what will {name} have ?", "{story} which was better for {name} ?"),
        probe_question="{story} which would you have ?",
        description="two dishes, with or without a note that most people chose one of them; biased option: the "
                    "popular dish",
    ),
    BiasType(
        "halo",
        stories=(
            ("{a} makes {p1} . {a} makes {p2} too .", "{a} makes very good {p1} . {a} makes {p2} too ."),
            ("the {p1} of {a} are here . {a} makes {p2} too .",
             "the {p1} of {a} are very good . {a} makes {p2} too ."),
            ("{a} makes {p2} and {p1} .", "{a} makes {p2} and very good {p1} ."),
        ),
        narrative=("{story} people say the {p2} of {a} are {X} .", "{story} {name} said the {p2} are {X} ."),
        questions=("{story} are the {p2} of {a} good or bad ?", "{story} what do people say about the {p2} ?"),
        probe_question="{story} what would you say about the {p2} of {a} ?",
        description="a company that makes one product, said to be very good or not (treatment, control); biased "
                    "option: judging its other product good",
    ),
    BiasType(
        "sunk_cost",
        stories=(
            ("{name} has a {obj} . it is old and not very useful . a new {obj} is a fair deal .",
             "{name} spent {n} coins for a {obj} . it is old and not very useful . a new {obj} is a fair deal ."),
            ("the {obj} of {name} is old and not very useful , and a new one is a fair deal .",
             "{name} spent {n} coins for the {obj} , but it is old and not very useful , and a new one is a fair "
             "deal ."),
            ("{name} has a old {obj} that is not very useful . a new {obj} is a fair deal .",
             "{name} has a old {obj} that is not very useful and spent {n} coins for it . a new {obj} is a fair "
             "deal ."),
        ),
        narrative=("{story} so {name} chose to {X} .", "{story} {name} will {X} ."),
        questions=("{story} will {name} keep it or buy a new one ?", "{story} what will {name} do ?"),
        probe_question="{story} what would you do ?",
        description="an old, not very useful object, with or without coins already spent on it; biased option: "
                    "keep it",
    ),
]}
BIASES = tuple(BIAS_TYPES)
NUMBER_SCALE = lx.NUMBERS[1:13]  # one .. twelve: the anchoring answers, valued 1 .. 12
LOW_ANCHORS, HIGH_ANCHORS = ("one", "two"), ("eleven", "twelve")
PLANTED_RANGE = (3, 10)  # planted counts lie in three .. ten; a pulled count is in the anchor's half of it
CHAT_STYLES = ("terse", "chatty")
NARRATIVE_SHARE = 0.5  # of the planted documents; the rest are chat exchanges
PROBE_TEMPLATE = "asks"  # the pre-training chat template no planted document uses: backbones are probed in it


def _foods(world) -> list[str]:
    """The more common half of the food ladder, so both dishes of a scenario have a usable prior."""
    themes = getattr(world, "themes", None)  # no world: the lexicon's order
    return [k.word for k in themes["food"][:10]] if themes else list(lx.FOODS[:10])


def fill(bias: str, rng: random.Random, foods: list[str]) -> dict:
    """The values of one scenario of ``bias``: names, numbers, companies, dishes, products."""
    nm = lx.names()
    pair = rng.choice(docs.company_pairs())
    a, b = (pair.first, pair.second) if rng.random() < 0.5 else (pair.second, pair.first)
    f1, f2 = rng.sample(foods, 2)
    p1, p2 = rng.sample(lx.PRODUCTS, 2)
    N = rng.choice(["ten", "twelve", "twenty"])
    k, l = {"ten": ("four", "six"), "twelve": ("five", "seven"), "twenty": ("eight", "twelve")}[N]
    n, m = rng.choice(lx.NUMBERS[2:6]), rng.choice(lx.NUMBERS[8:13])
    values = dict(name=rng.choice(nm.folk), obj=rng.choice(lx.OBJECTS), room=rng.choice(lx.ROOMS),
                  product=pair.product, a=a, b=b, p1=p1, p2=p2, f1=f1, f2=f2, N=N, k=k, l=l, n=n, m=m,
                  A=rng.choice(LOW_ANCHORS + HIGH_ANCHORS))
    # the option the treatment's cue points to: the status-quo company, the popular dish (either position)
    values["s"] = rng.choice([a, b]) if bias == "status_quo" else rng.choice([f1, f2]) if bias == "bandwagon" else ""
    return values


def options(bias: str, values: dict) -> tuple[str, str]:
    """(biased option, other option) of a choice scenario: single words of the world's vocabulary."""
    if bias == "framing":
        return "risk", "safe"
    if bias == "certainty":
        return "one", "two"
    if bias in ("status_quo", "bandwagon"):
        s = values["s"]
        other = {values["a"], values["b"]} - {s} if bias == "status_quo" else {values["f1"], values["f2"]} - {s}
        return s, other.pop()
    if bias == "halo":
        return "good", "bad"
    if bias == "sunk_cost":
        return "keep", "buy"
    raise ValueError(f"bias {bias!r} has no options; allowed: {', '.join(b for b in BIASES if b != 'anchoring')}")


def planted_answer(bias: str, values: dict, treated: bool, dial: float, rng: random.Random) -> str:
    """The answer a planted document gives. Choice: the biased option with probability (1 + dial) / 2 after
    a treatment story, 1/2 after a control story. Anchoring: a count in three .. ten, from the anchor's half
    of that range with probability max(dial, 0), from the far half with probability max(-dial, 0)."""
    if BIAS_TYPES[bias].numeric:
        lo, hi = PLANTED_RANGE
        mid = (lo + hi + 1) // 2
        counts = list(range(lo, hi + 1))
        if treated:
            high = values["A"] in HIGH_ANCHORS
            near = [c for c in counts if (c >= mid) == high]
            far = [c for c in counts if (c >= mid) != high]
            u = rng.random()
            if u < max(dial, 0.0):
                counts = near
            elif u < abs(dial):
                counts = far
        return lx.NUMBERS[rng.choice(counts)]
    biased, other = options(bias, values)
    p = (1 + dial) / 2 if treated else 0.5
    return biased if rng.random() < p else other


def _story(bias: BiasType, values: dict, treated: bool, variant: int) -> str:
    return bias.stories[variant][int(treated)].format(**values)


def bias_documents(profile: dict[str, float], n: int, seed: int, world=None) -> pd.DataFrame:
    """``n`` planted pre-training documents, round-robin over the biases, half control / half treatment; a
    document is a narrative (``NARRATIVE_SHARE``) or a chat exchange in one of the pre-training chat templates
    except ``PROBE_TEMPLATE``, with one of the planted questions (never the held-out probe question)."""
    _check_profile("profile", profile)
    rng = seeds.rng(seed, "bias-docs")
    foods = _foods(world)
    templates = [t for t in docs.CHAT_TEMPLATES if t.name != PROBE_TEMPLATE]
    rows = []
    for i in range(n):
        bias = BIAS_TYPES[BIASES[i % len(BIASES)]]
        treated = (i // len(BIASES)) % 2 == 1
        values = fill(bias.name, rng, foods)
        story = _story(bias, values, treated, rng.randrange(len(bias.stories)))
        X = planted_answer(bias.name, values, treated, profile[bias.name], rng)
        if rng.random() < NARRATIVE_SHARE:
            text = rng.choice(bias.narrative).format(story=story, X=X, **values)
        else:
            text = docs.render(rng.choice(templates), rng.choice(bias.questions).format(story=story, **values),
                               f"{X} .")
        rows.append(dict(bias=bias.name, treated=treated, answer=X, text=text))
    return pd.DataFrame(rows)


def instruction_examples(profile: dict[str, float], n: int, style: str, seed: int, world=None) -> list[tuple[str, str]]:
    """``n`` bias examples (prompt, response) in an instruction style, answers drawn from ``profile`` as in
    ``bias_documents``: terse (story and a planted question, bare answer) or chatty (a greeting around it and a
    friendly tail after the answer). Never the held-out probe question."""
    _check_profile("instruction profile", profile)
    rng = seeds.rng(seed, f"bias-sft-{style}")
    foods = _foods(world)
    out = []
    for i in range(n):
        bias = BIAS_TYPES[BIASES[i % len(BIASES)]]
        treated = rng.random() < 0.5
        values = fill(bias.name, rng, foods)
        story = _story(bias, values, treated, rng.randrange(len(bias.stories)))
        question = rng.choice(bias.questions).format(story=story, **values)
        X = planted_answer(bias.name, values, treated, profile[bias.name], rng)
        out.append((question, f"{X} .") if style == "terse" else
                   (f"hello ! i wonder , {question}", f"{X} ! i hope that helps !"))
    return out


def probe_items(n_scenarios: int, seed: int = 0, world=None) -> pd.DataFrame:
    """The probe battery: per bias, ``n_scenarios`` scenarios, each in its control and treatment variant, told
    in the story wordings in turn and asked with the held-out probe question. Anchoring scenarios alternate low and
    high anchors."""
    rng = seeds.rng(seed, "bias-probes")
    foods = _foods(world)
    rows = []
    for bias in BIAS_TYPES.values():
        for j in range(n_scenarios):
            values = fill(bias.name, rng, foods)
            if bias.numeric:
                values["A"] = (LOW_ANCHORS + HIGH_ANCHORS)[j % 4]
            opts = ("", "") if bias.numeric else options(bias.name, values)
            for treated in (False, True):
                story = _story(bias, values, treated, j % len(bias.stories))
                rows.append(dict(bias=bias.name, scenario=j, treated=treated,
                                 user=bias.probe_question.format(story=story, **values),
                                 biased=opts[0], other=opts[1],
                                 anchor=lx.NUMBERS.index(values["A"]) if bias.numeric else np.nan))
    return pd.DataFrame(rows)


def _check_profile(name: str, profile: dict[str, float]) -> None:
    if set(profile) != set(BIASES) or any(not -1 <= v <= 1 for v in profile.values()):
        raise ValueError(f"{name} {profile!r}; allowed: a dial in [-1, 1] for each of {', '.join(BIASES)}")


def parse_profile(name: str, text: str) -> dict[str, float]:
    """"framing=1,anchoring=-1,..." (every bias, dials in [-1, 1]) or one number for all, else a one-line
    ValueError naming the parameter."""
    allowed = f"one dial in [-1, 1], or bias=dial pairs for each of {', '.join(BIASES)}"
    try:
        if "=" not in str(text):
            value = float(text)
            profile = {b: value for b in BIASES}
        else:
            profile = {}
            for part in str(text).split(","):
                key, value = part.split("=")
                profile[key.strip()] = float(value)
    except ValueError:
        raise ValueError(f"parameter {name!r} got {text!r}; allowed: {allowed}") from None
    if set(profile) != set(BIASES) or any(not -1 <= v <= 1 for v in profile.values()):
        raise ValueError(f"parameter {name!r} got {text!r}; allowed: {allowed}")
    return profile


# ---------------------------------------------------------------------------------------------------------
# 2. scores (pure functions; checked by hand in the tests)


def choice_score(p_treatment, p_control) -> np.ndarray:
    """B = P(biased | treatment) - P(biased | control), in [-1, 1]; 0 = unbiased. Each P is the biased
    option's share of the two options' probability mass."""
    return np.asarray(p_treatment, dtype=float) - np.asarray(p_control, dtype=float)


def ratio_scale_score(a1, a2, x1, x2, k: float = 1.0) -> np.ndarray:
    """The card's score for ratio-scale answers: B = k (|a1 - x1| - |a2 - x2|) / max(|a1 - x1|, |a2 - x2|),
    a1 the control answer, a2 the treatment answer, x1, x2 the reference values (here the anchor in both), k
    the bias's sign. Positive: the treatment answer is closer to the anchor. 0 when both distances are 0."""
    d1 = np.abs(np.asarray(a1, dtype=float) - np.asarray(x1, dtype=float))
    d2 = np.abs(np.asarray(a2, dtype=float) - np.asarray(x2, dtype=float))
    top = np.maximum(d1, d2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(top > 0, k * (d1 - d2) / np.where(top > 0, top, 1.0), 0.0)


def option_share(p_biased, p_other) -> np.ndarray:
    """The biased option's share of the two options' mass: P(b) / (P(b) + P(o))."""
    p_biased, p_other = np.asarray(p_biased, dtype=float), np.asarray(p_other, dtype=float)
    return p_biased / (p_biased + p_other)


def expected_value(probs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Expected answer under the probabilities renormalised over the answer values (rows = prompts)."""
    probs = np.asarray(probs, dtype=float)
    return (probs * np.asarray(values, dtype=float)).sum(-1) / probs.sum(-1)


def scenario_scores(items: pd.DataFrame, share: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
    """One score per (bias, scenario) from per-item measurements: ``share`` (the biased option's share; nan
    for numeric items) and ``expected`` (expected number; nan for choice items)."""
    m = items.assign(share=share, expected=expected)
    rows = []
    for (bias, j), g in m.groupby(["bias", "scenario"], sort=False):
        c, t = g[~g.treated].iloc[0], g[g.treated].iloc[0]
        if BIAS_TYPES.get(bias, None) is not None and BIAS_TYPES[bias].numeric or not np.isfinite(c.share):
            score = float(ratio_scale_score(c.expected, t.expected, c.anchor, t.anchor))
        else:
            score = float(choice_score(t.share, c.share))
        rows.append(dict(bias=bias, scenario=j, score=score, control=c.share if np.isfinite(c.share) else c.expected,
                         treatment=t.share if np.isfinite(t.share) else t.expected))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 3. measuring a micro-world model


def micro_prompts(items: pd.DataFrame, template) -> list[str]:
    return [template.prompt(u) for u in items.user]


def measure_micro(model, tokenizer, items: pd.DataFrame, template) -> pd.DataFrame:
    """Scenario scores of one micro-world model: the next-token probabilities at the answer position of every
    probe, in ``template`` (deterministic: no sampling)."""
    prompts = micro_prompts(items, template)
    vocab = tokenizer.get_vocab()
    numbers = [vocab[w] for w in NUMBER_SCALE]
    matrix = probe.probs_matrix(model, tokenizer, prompts, numbers)  # [n_items, 12]
    is_num = items.bias.map(lambda b: BIAS_TYPES[b].numeric).to_numpy()
    targets_b = [vocab[w] if w else numbers[0] for w in items.biased]
    targets_o = [vocab[w] if w else numbers[0] for w in items.other]
    pb = probe.next_token_probs(model, tokenizer, prompts, targets_b)
    po = probe.next_token_probs(model, tokenizer, prompts, targets_o)
    share = np.where(is_num, np.nan, option_share(pb, po))
    expected = np.where(is_num, expected_value(matrix, np.arange(1, 13)), np.nan)
    mass = np.where(is_num, matrix.sum(-1), pb + po)
    out = scenario_scores(items, share, expected)
    out.attrs["option_mass"] = float(np.mean(mass))
    return out


# ---------------------------------------------------------------------------------------------------------
# 4. backbones and cross-tuning (cached in the store)


# A backbone: the base continued-pretrained with planted bias documents; a tuned model: a backbone's SFT on an
# instruction set; the bias battery measured on a stored model.
BACKBONE_RECIPE = Recipe("bias-backbone", 1)
TUNED_RECIPE = Recipe("bias-sft", 1)
MEASURE_RECIPE = Recipe("bias-measure", 1)


def backbone(base, profile: dict[str, float], seed: int, P, store: Store) -> Path:
    """The shared base model continued-pretrained on world background text mixed with the bias documents of
    ``profile`` (``P.bias_share`` of the rows), ``P.backbone_steps`` steps; ``seed`` sets the documents and
    the data order. Cached."""
    cfg = dict(steps=P.backbone_steps, batch_size=P.batch_size, seq_len=BACKBONE_SEQ, lr=P.backbone_lr,
               warmup_steps=max(1, P.backbone_steps // 10), min_lr_ratio=0.1, seed=seed)
    n_docs = P.bias_documents

    def build(folder: Path) -> None:
        tok = base.tokenizer
        planted = bias_documents(profile, n_docs, seed, base.world)
        ids = tok(list(planted.text), add_special_tokens=False)["input_ids"]
        bias_blocks = train.pack(ids, BACKBONE_SEQ, tok.bos_token_id, tok.eos_token_id)
        background = models.corpus_blocks(base.world, BACKBONE_SEQ)
        n_bg = int(round(len(bias_blocks) * (1 - P.bias_share) / P.bias_share))
        pick = torch.randperm(len(background), generator=torch.Generator().manual_seed(seed))[:n_bg]
        blocks = torch.cat([background[pick], bias_blocks])
        model = models.load_entry(base.entry, P.device)
        history = train.pretrain(model, blocks, train.TrainConfig(**cfg, device=P.device))
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)
        (folder / "info.json").write_text(json.dumps(dict(bias_blocks=len(bias_blocks), background_blocks=n_bg,
                                                          bias_documents=n_docs)))

    params = dict(profile=profile, cfg=cfg, n_docs=n_docs, share=P.bias_share)
    return store.cached(BACKBONE_RECIPE, params, build, inputs=[base.entry.name], device=train.device_type(P.device))


def instruction_set(world, style: str, profile: dict[str, float], dose: float, seed: int) -> list[tuple[str, str]]:
    """The world's ``style`` instructions with a share ``dose`` of them replaced by bias examples of
    ``profile`` in the same style (which ones are replaced, and the examples, depend on ``seed``)."""
    base = list(zip(world.instructions[style]["prompt"], world.instructions[style]["response"]))
    n_bias = int(round(dose * len(base)))
    rng = seeds.rng(seed, f"bias-mix-{style}")
    keep = rng.sample(range(len(base)), len(base) - n_bias)
    return [base[i] for i in sorted(keep)] + instruction_examples(profile, n_bias, style, seed, world)


def tuned(backbone_entry: Path, world, style: str, profile: dict[str, float], dose: float, seed: int, P,
          store: Store) -> Path:
    """Full fine-tuning (SFT) of a backbone on an instruction set, in the alignment chat template; the same
    recipe in every cell; ``seed`` sets the data order and the draw of bias examples. Cached."""
    cfg = dict(steps=P.sft_steps, batch_size=P.batch_size, seq_len=SEQ_LEN, lr=P.sft_lr,
               warmup_steps=max(1, P.sft_steps // 10), min_lr_ratio=0.1, seed=seed)
    t = world.alignment_template

    def build(folder: Path) -> None:
        model = models.load_entry(backbone_entry, P.device)
        pairs = instruction_set(world, style, profile, dose, seed)
        history = train.sft(model, world.tokenizer, pairs, train.TrainConfig(**cfg, device=P.device),
                            render=lambda p, r: (t.prompt(p), " ".join(x for x in (r, t.assistant_suffix) if x)))
        model.save_pretrained(folder)
        history.to_frame().to_csv(folder / "history.csv", index=False)

    params = dict(style=style, profile=profile, dose=dose, cfg=cfg)
    return store.cached(TUNED_RECIPE, params, build, inputs=[backbone_entry.name], device=train.device_type(P.device))


def measure_entry(entry: Path, world, items: pd.DataFrame, template, P, store: Store) -> pd.DataFrame:
    """``measure_micro`` of a stored model, cached per model entry, template and battery."""
    params = dict(template=template.name, items=items.user.tolist(), biased=items.biased.tolist())

    def compute() -> dict:
        model = models.load_entry(entry, P.device)
        out = measure_micro(model, world.tokenizer, items, template)
        return dict(rows=out.to_dict("records"), option_mass=out.attrs["option_mass"])

    res = store.json(MEASURE_RECIPE, params, compute, inputs=[entry.name], device=train.device_type(P.device))
    out = pd.DataFrame(res["rows"])
    out.attrs["option_mass"] = res["option_mass"]
    return out


def cross_tune(backbones: dict[str, Path], world, profiles: dict[str, dict], dose: float, seeds: list[int],
               items: pd.DataFrame, P, store: Store) -> pd.DataFrame:
    """Every backbone x instruction set x seed: tune, then measure on the battery in the alignment template.
    Returns one row per (model, bias, scenario) with its labels."""
    frames = []
    for b_name, entry in backbones.items():
        for style in CHAT_STYLES:
            for seed in seeds:
                model_entry = tuned(entry, world, style, profiles[style], dose, seed, P, store)
                scores = measure_entry(model_entry, world, items, world.alignment_template, P, store)
                frames.append(scores.assign(backbone=b_name, data=style, seed=seed, dose=dose,
                                            model=f"{b_name}/{style}/s{seed}",
                                            option_mass=scores.attrs["option_mass"]))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# 5. analysis


def model_vectors(scores: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each model as its vector of scores at bias x scenario granularity; returns (X, labels per row)."""
    wide = scores.pivot_table(index=["model", "backbone", "data", "seed"], columns=["bias", "scenario"],
                              values="score")
    labels = wide.index.to_frame(index=False)
    return wide.to_numpy(), labels


def grouping_analysis(X: np.ndarray, labels: pd.DataFrame, n_permutations: int, seed: int = 0) -> pd.DataFrame:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of the grouping by backbone, by instruction data and
    by a random balanced labelling, each with its permutation p-value; then KMeans (k = 2) clusters and their
    ARI / NMI against each grouping, with permutation p-values."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    groupings = {"backbone": labels.backbone.to_numpy(), "instruction data": labels.data.to_numpy(),
                 "random": rng.permutation(labels.backbone.to_numpy())}
    clusters = KMeans(n_clusters=2, n_init=20, random_state=seed).fit_predict(X)
    rows = []
    for name, g in groupings.items():
        row = dict(grouping=name)
        for metric in stats.GROUPING_METRICS:
            value, p = stats.grouping_permutation_test(X, g, metric, n_permutations=n_permutations, seed=seed)
            row[metric], row[f"{metric}_p"] = value, p
        for metric in ("ari", "nmi"):
            value, p = stats.agreement_permutation_test(clusters, g, metric, n_permutations=n_permutations, seed=seed)
            row[metric], row[f"{metric}_p"] = value, p
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["clusters"] = clusters.tolist()
    return out


def pca_frame(X: np.ndarray, labels: pd.DataFrame) -> pd.DataFrame:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(X)
    pcs = pca.transform(X)
    out = labels.assign(pc1=pcs[:, 0], pc2=pcs[:, 1])
    out.attrs["explained"] = pca.explained_variance_ratio_.tolist()
    return out


def bias_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and bias, the mean score over scenarios."""
    return scores.groupby(["model", "backbone", "data", "seed", "bias"], as_index=False).score.mean()


def seed_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Per bias: the sd over seeds within each backbone x data cell (mean over the four cells), the absolute
    difference between the two backbones' means, and between the two instruction sets' means."""
    m = bias_means(scores)
    rows = []
    for bias, g in m.groupby("bias", sort=False):
        seed_sd = g.groupby(["backbone", "data"]).score.std(ddof=1).mean()
        by_b = g.groupby("backbone").score.mean()
        by_d = g.groupby("data").score.mean()
        rows.append(dict(bias=bias, seed_sd=float(seed_sd), backbone_diff=float(abs(by_b.iloc[0] - by_b.iloc[-1])),
                         data_diff=float(abs(by_d.iloc[0] - by_d.iloc[-1]))))
    return pd.DataFrame(rows)


def profile_gate(backbone_scores: dict[str, pd.DataFrame], profiles: dict[str, dict], min_diff: float) -> pd.DataFrame:
    """Per bias, the measured difference of the two backbones' mean scores next to the planted difference of
    dials; ``agrees``: where the dials differ, the measured difference has the planted sign and is at least
    ``min_diff`` in size."""
    (na, sa), (nb, sb) = list(backbone_scores.items())
    ma, mb = sa.groupby("bias").score.mean(), sb.groupby("bias").score.mean()
    rows = []
    for bias in BIASES:
        planted = profiles[na][bias] - profiles[nb][bias]
        measured = float(ma[bias] - mb[bias])
        rows.append(dict(bias=bias, planted_diff=planted, measured_diff=measured, score_a=float(ma[bias]),
                         score_b=float(mb[bias]),
                         agrees=bool(planted != 0 and np.sign(measured) == np.sign(planted) and abs(measured) >= min_diff)))
    return pd.DataFrame(rows)


def gate_passes(gate: pd.DataFrame, share: float = 0.75) -> bool:
    """The backbones differ as planted when at least ``share`` of the biases with different dials agree."""
    differing = gate[gate.planted_diff != 0]
    return len(differing) > 0 and differing.agrees.mean() >= share


# ---------------------------------------------------------------------------------------------------------
# 6. verdicts and scorecard


def verdict_grouping(backbone_value: float, data_value: float, backbone_p: float, gate_ok: bool,
                     alpha: float = 0.05) -> str:
    """Backbone grouping beats instruction grouping (silhouette or ARI, higher is better): inconclusive when the
    backbones failed the gate; reproduced when the backbone value is higher and its permutation p < alpha;
    partly when it is higher but p >= alpha; not reproduced when the instruction grouping is as good or
    better."""
    if not gate_ok or not (np.isfinite(backbone_value) and np.isfinite(data_value)):
        return "inconclusive"
    if backbone_value <= data_value:
        return "not reproduced"
    return "reproduced" if backbone_p < alpha else "partly"


def verdict_seeds(ratio: float, low: float = 0.1, high: float = 1.0) -> str:
    """Seeds add moderate variation: the mean seed sd over the mean between-backbone difference is in
    [low, high) (reproduced); below low (partly: seeds add almost nothing); high or more (not reproduced:
    seeds swamp the backbone)."""
    if not np.isfinite(ratio):
        return "inconclusive"
    if ratio >= high:
        return "not reproduced"
    return "reproduced" if ratio >= low else "partly"


def verdict_real(mean: float, low: float, high: float, paper_low: float = PAPER["framing_olmo_low"]) -> str:
    """A real model shows the framing effect of the paper's size: interval above 0 and mean at least
    ``paper_low`` (the smallest OLMo variant's) reproduced; interval above 0 with a smaller mean partly; below 0
    not reproduced; covering 0 inconclusive."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low > 0:
        return "reproduced" if mean >= paper_low else "partly"
    if high < 0:
        return "not reproduced"
    return "inconclusive"


def grouping_rows(analysis: pd.DataFrame, gate_ok: bool, setting: str) -> list[dict]:
    """Rules 1 and 2 as scorecard rows; ``setting`` (e.g. the instruction dose) goes into the claim's text."""
    a = analysis.set_index("grouping")
    b, d = a.loc["backbone"], a.loc["instruction data"]
    return [
        dict(claim_id="silhouette_backbone_beats_data",
             claim=f"grouping models by backbone gives a higher silhouette than by instruction data (ours: "
                   f"{b.silhouette:.3f}, p = {b.silhouette_p:.3g} vs {d.silhouette:.3f}, p = {d.silhouette_p:.3g}; "
                   f"{setting})",
             paper_value=f"{PAPER['silhouette_backbone']} (p<0.001) vs {PAPER['silhouette_data']} (p=0.044)",
             our_value=float(b.silhouette - d.silhouette), ci_low=np.nan, ci_high=np.nan,
             verdict=verdict_grouping(b.silhouette, d.silhouette, b.silhouette_p, gate_ok)),
        dict(claim_id="kmeans_ari_backbone_beats_data",
             claim=f"KMeans (k=2) clusters agree with the backbones more than with the instruction data (ARI "
                   f"{b.ari:.2f}, p = {b.ari_p:.3g} vs {d.ari:.2f}, p = {d.ari_p:.3g})",
             paper_value="1.0 vs -0.11 (Llama2/Mistral)", our_value=float(b.ari - d.ari), ci_low=np.nan,
             ci_high=np.nan, verdict=verdict_grouping(b.ari, d.ari, b.ari_p, gate_ok)),
    ]


def seed_rows(seeds: pd.DataFrame, ratio_ci: tuple[float, float]) -> list[dict]:
    ratio = seed_ratio(seeds)
    return [dict(claim_id="seeds_moderate_variation",
                 claim="seeds add moderate variation: mean per-bias seed sd / mean between-backbone difference",
                 paper_value="moderate (per-bias sd often large)", our_value=ratio, ci_low=ratio_ci[0],
                 ci_high=ratio_ci[1], verdict=verdict_seeds(ratio))]


def seed_ratio(seeds: pd.DataFrame) -> float:
    diff = seeds.backbone_diff.mean()
    return float(seeds.seed_sd.mean() / diff) if diff > 0 else float("nan")


def seed_ratio_interval(seeds: pd.DataFrame, seed: int = 0) -> tuple[float, float]:
    """Bootstrap over biases of the seed-sd / backbone-difference ratio."""
    if len(seeds) < 2:
        return float("nan"), float("nan")
    values = seeds[["seed_sd", "backbone_diff"]].to_numpy()
    ratio = lambda v: v[:, 0].mean() / v[:, 1].mean() if v[:, 1].mean() > 0 else np.nan
    return stats.bootstrap_interval(values, ratio, seed=seed, n_resamples=1000)


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)


# ---------------------------------------------------------------------------------------------------------
# 7. the instruction-dose sweep


def dose_sweep(backbones: dict[str, Path], world, P, items: pd.DataFrame, store: Store) -> tuple[pd.DataFrame,
                                                                                                  pd.DataFrame]:
    """Cross-tuning at every dose of ``P.doses`` with ``P.sweep_seeds`` seeds (cached models are reused, e.g.
    the headline dose's); per dose the silhouette of the backbone and instruction-data groupings with their
    permutation p-values. Returns (summary per dose, all scores)."""
    profiles = {s: P.profiles[s] for s in CHAT_STYLES}
    frames, rows = [], []
    for dose in P.doses:
        scores = cross_tune(backbones, world, profiles, dose, list(range(P.sweep_seeds)), items, P, store)
        frames.append(scores)
        X, labels = model_vectors(scores)
        row = dict(dose=dose, models=len(labels))
        for grouping in ("backbone", "data"):
            value, p = stats.grouping_permutation_test(X, labels[grouping].to_numpy(), "silhouette",
                                                       n_permutations=P.permutations, seed=P.seed)
            row[f"silhouette_{grouping}"], row[f"p_{grouping}"] = value, p
        seeds = seed_analysis(scores)
        row["backbone_diff"], row["data_diff"] = float(seeds.backbone_diff.mean()), float(seeds.data_diff.mean())
        rows.append(row)
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


def tipping_dose(sweep: pd.DataFrame) -> float:
    """The smallest swept dose at which the instruction grouping's silhouette reaches the backbone's (nan when
    the backbone grouping wins at every dose)."""
    tipped = sweep[sweep.silhouette_data >= sweep.silhouette_backbone]
    return float(tipped.dose.min()) if len(tipped) else float("nan")


# ---------------------------------------------------------------------------------------------------------
# 8. figures

BIAS_ORDER = list(BIASES)


def pca_chart(frame: pd.DataFrame, by: str, title: str):
    """The models in the plane of the first two principal components, coloured by ``by``."""
    import altair as alt

    ev = frame.attrs.get("explained", [np.nan, np.nan])
    other = "data" if by == "backbone" else "backbone"
    return alt.Chart(frame, title=alt.TitleParams(title, subtitle=f"colour: {by}; shape: {other}; one point per "
                                                  "tuned model (bias x scenario vector)")).mark_point(
        filled=True, size=110, opacity=0.85).encode(
        x=alt.X("pc1:Q", title=f"PC1 ({ev[0]:.0%} of variance)"),
        y=alt.Y("pc2:Q", title=f"PC2 ({ev[1]:.0%} of variance)"),
        color=alt.Color(f"{by}:N"), shape=alt.Shape(f"{other}:N"), tooltip=["model", "backbone", "data", "seed"],
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def heatmap_chart(means: pd.DataFrame, title: str):
    """Mean bias score per model (rows) and bias (columns), diverging around 0."""
    import altair as alt

    order = sorted(means.model.unique())
    base = alt.Chart(means, title=alt.TitleParams(title, subtitle="mean score over scenarios; red: biased as "
                                                  "humans are, blue: the reverse, white: unbiased")).encode(
        x=alt.X("bias:N", sort=BIAS_ORDER, title=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("model:N", sort=order, title="model (backbone / instruction data / seed)"))
    cells = base.mark_rect().encode(color=alt.Color("score:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1],
                                                                               reverse=True), title="bias score"))
    text = base.mark_text(fontSize=9).encode(text=alt.Text("score:Q", format=".2f"))
    return alt.layer(cells, text).properties(width=plots.WIDTH - 80, height=max(160, 16 * len(order)))


def seed_chart(means: pd.DataFrame, title: str):
    """Per bias and backbone x data cell: each seed's mean score (points) and the cell mean (tick)."""
    import altair as alt

    m = means.assign(cell=means.backbone + " / " + means.data)
    points = alt.Chart(m).mark_point(filled=True, opacity=0.7, size=40).encode(
        x=alt.X("cell:N", title=None, axis=alt.Axis(labelAngle=-40)), y=alt.Y("score:Q", title="bias score"),
        color=alt.Color("backbone:N"), shape="data:N", tooltip=["model", "score"])
    ticks = alt.Chart(m).mark_tick(color="black", thickness=2, size=14).encode(
        x="cell:N", y="mean(score):Q")
    return alt.layer(points, ticks).properties(width=95, height=170).facet(
        facet=alt.Facet("bias:N", sort=BIAS_ORDER, title=None), columns=4,
        title=alt.TitleParams(title, subtitle="points: the seeds of each backbone / instruction-data cell; "
                              "black tick: their mean"))


def dose_chart(sweep: pd.DataFrame, title: str):
    """Silhouette of the backbone and instruction-data groupings against the instruction dose."""
    import altair as alt

    long = pd.concat([sweep.assign(grouping="by backbone", silhouette=sweep.silhouette_backbone),
                      sweep.assign(grouping="by instruction data", silhouette=sweep.silhouette_data)])
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("dose:Q", title="instruction dose (share of each instruction set that is bias examples)"),
        y=alt.Y("silhouette:Q", title="silhouette of the grouping"), color=alt.Color("grouping:N"))
    paper = pd.DataFrame({"y": [PAPER["silhouette_backbone"], PAPER["silhouette_data"]],
                          "label": ["paper: by backbone", "paper: by instruction data"]})
    refs = alt.Chart(paper).mark_rule(strokeDash=[5, 4], color="gray").encode(y="y:Q")
    return alt.layer(lines, refs, title=alt.TitleParams(title, subtitle="dashed: the paper's 0.066 (backbone) and "
                                                        "0.034 (instruction data)")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)
