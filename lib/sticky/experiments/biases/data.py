"""Chapter 3's data: the seven biases in the micro-world's words, the planted pre-training documents, the bias
examples and the instruction sets they are mixed into, and the probe battery.

1. ``BIAS_TYPES``: seven decision biases written with the micro-world's own words. Each has a short story in
   a *control* and a *treatment* variant (the treatment adds the cue: a loss frame, an anchor, a sure
   option, an owned product, what most people chose, one good product, coins already spent) and two answer
   options, one of them the *biased* option. ``bias_documents`` plants them in pre-training text: in a
   treatment story the biased option is chosen with probability ``(1 + dial) / 2`` (dial 0: no bias, +1:
   always the biased option, -1: always the other), in a control story half the time. The probe question
   and the probe's chat template are *held out*: no planted document or instruction example uses them, so a
   probe can only show a bias the model learned, not one written into the probe.
2. ``instruction_set``: the world's two instruction datasets (terse, chatty), each with a share ``dose`` of
   its examples replaced by bias examples of its own profile (``instruction_examples``), so backbone and
   instruction data compete.
3. ``probe_items``: the probe battery, every scenario in both variants, asked with the held-out question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sticky import seeds
from sticky.world import documents as docs
from sticky.world import lexicon as lx

# ---------------------------------------------------------------------------------------------------------
# the biases, in the micro-world's words


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


def common_foods(world) -> list[str]:
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
    foods = common_foods(world)
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


def instruction_examples(profile: dict[str, float], n: int, style: str, seed: int,
                         world=None) -> list[tuple[str, str]]:
    """``n`` bias examples (prompt, response) in an instruction style, answers drawn from ``profile`` as in
    ``bias_documents``: terse (story and a planted question, bare answer) or chatty (a greeting around it and a
    friendly tail after the answer). Never the held-out probe question."""
    _check_profile("instruction profile", profile)
    rng = seeds.rng(seed, f"bias-sft-{style}")
    foods = common_foods(world)
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
    foods = common_foods(world)
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


# ---------------------------------------------------------------------------------------------------------
# the instruction sets, with their dose of bias examples


def instruction_set(world, style: str, profile: dict[str, float], dose: float, seed: int) -> list[tuple[str, str]]:
    """The world's ``style`` instructions with a share ``dose`` of them replaced by bias examples of
    ``profile`` in the same style (which ones are replaced, and the examples, depend on ``seed``)."""
    base = list(zip(world.instructions[style]["prompt"], world.instructions[style]["response"]))
    n_bias = int(round(dose * len(base)))
    rng = seeds.rng(seed, f"bias-mix-{style}")
    keep = rng.sample(range(len(base)), len(base) - n_bias)
    return [base[i] for i in sorted(keep)] + instruction_examples(profile, n_bias, style, seed, world)
