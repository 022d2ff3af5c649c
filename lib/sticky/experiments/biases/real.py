"""Chapter 3's real-model track: the bias battery in natural English on real models, and the real
cross-tuning of the ``paper`` profile.

1. ``battery``: the project's natural-English tests (``data/biases/items.json``), each a control/treatment
   pair of stories with two lettered options or, for anchoring, a digit answer. ``measure`` reads the letter
   (or digit) probabilities at the first answer position and scores them with chapter 3's formulas
   (``biases.scenario_scores``); ``measure_packaged`` does it for the packaged models as they come.
2. ``instruction_set``: two English instruction sets written from templates by the project, of different
   style and task mix, like the paper's Tulu-2 and Flan: *terse* (short tasks, the bare answer) and *chatty*
   (a friendly request, the answer and a friendly tail, more writing tasks). Neither says anything about a
   decision bias: as in the paper, any bias they move comes from how they teach a model to answer.
3. ``cross_tune``: each real backbone x instruction set x seed, tuned with LoRA (the paper's recipe: a
   high-rank adapter on every linear layer), the same recipe in every cell, in one plain "Answer:" format;
   each tuned model answers the battery in that format. Only the scores are cached, not the tuned models.
"""

from __future__ import annotations

import hashlib
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sticky import models, plots, probe, seeds, stats, train
from sticky.store import Recipe, Store

from .figures import BIAS_ORDER
from .measurement import expected_value, option_share, scenario_scores

DATA = Path(__file__).resolve().parents[4] / "data" / "biases"  # the repository: .../biases/real.py -> ./
DIGITS = [str(d) for d in range(1, 10)]  # the anchoring answers of the real track: one digit, 1 .. 9
TUNING_SEQ = 128  # tokens per tuning row: every instruction example fits
# The battery measured on a packaged or hub model; a real backbone LoRA-tuned on an instruction set, then
# measured (only its scores and loss curve are cached, never the model).
MEASURE_RECIPE = Recipe("bias-real", 1)
TUNED_RECIPE = Recipe("bias-real-tuned", 1)
LORA_ALPHA_PER_RANK = 2  # lora_alpha = 2 x rank, the common choice (the update's scale does not grow with rank)


# ---------------------------------------------------------------------------------------------------------
# 1. the battery, and measuring a real model on it

def battery(scenarios: int | None = None) -> pd.DataFrame:
    """The project's natural-English battery, one row per (bias, scenario, condition); the first
    ``scenarios`` scenarios of each bias (all when None)."""
    rows = []
    for item in json.loads((DATA / "items.json").read_text()):
        if scenarios is not None and item["scenario"] >= scenarios:
            continue
        for treated in (False, True):
            row = dict(bias=item["bias"], scenario=item["scenario"], treated=treated,
                       story=item["treatment" if treated else "control"], question=item["question"])
            if "options" in item:
                opts = item["options"]
                row.update(options=opts, biased="AB"[item["biased"]], other="AB"[1 - item["biased"]], anchor=np.nan)
            else:
                row.update(options=None, biased="", other="", anchor=float(item["anchor"]))
            rows.append(row)
    return pd.DataFrame(rows)


def _space_first(tokenizer) -> bool:
    """Whether " 5" is a bare space token and then "5" (Gemma's and SmolLM2's tokenizers): a base model's
    digit answer then starts with the space, so its prompt must end with it for the digit to be next."""
    return len(tokenizer(" 5", add_special_tokens=False)["input_ids"]) > 1


def probe_prompt(row, tokenizer, chat: bool) -> str:
    """The probe text: story, question, lettered options (choice items); for a chat model its chat template
    with the generation prompt, for a base model a plain "Answer:" cue (for a digit answer "Answer: " when
    the tokenizer writes a digit after a separate space token)."""
    lines = [row.story, row.question]
    if row.options:
        lines += [f"A) {row.options[0]}", f"B) {row.options[1]}"]
        cue = "Answer with A or B."
    else:
        cue = ""
    if chat:
        user = "\n".join(lines + ([cue] if cue else []))
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                             add_generation_prompt=True)
    space = not row.options and _space_first(tokenizer)
    return "\n".join(lines) + ("\nAnswer: " if space else "\nAnswer:")


def single_token(tokenizer, word: str, chat: bool) -> int:
    """The token id of ``word`` as the first answer token: after "Answer:" a base model writes " word", a chat
    model starts its turn with "word". Falls back to the other form when that one is not a single token."""
    forms = [word, " " + word] if chat else [" " + word, word]
    for form in forms:
        ids = tokenizer(form, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            return ids[0]
    raise ValueError(f"answer {word!r} is not a single token of this tokenizer; allowed: letters and digits")


def measure(model, tokenizer, items: pd.DataFrame, chat: bool) -> pd.DataFrame:
    """Scenario scores on a real model: letter probabilities (choice) or expected digit (anchoring) at the
    first answer position, last position's logits only."""
    prompts = [probe_prompt(r, tokenizer, chat) for r in items.itertuples()]
    letters = {w: single_token(tokenizer, w, chat) for w in "AB"}
    # a digit comes right after the prompt's trailing space (base models) or at the turn's start (chat)
    digits = [single_token(tokenizer, d, chat or _space_first(tokenizer)) for d in DIGITS]
    matrix = probe.probs_matrix(model, tokenizer, prompts, [letters["A"], letters["B"], *digits], batch_size=16)
    is_num = items.options.isna().to_numpy()
    pa, pb = matrix[:, 0], matrix[:, 1]
    p_biased = np.where(items.biased == "A", pa, pb)
    p_other = np.where(items.biased == "A", pb, pa)
    share = np.where(is_num, np.nan, option_share(p_biased, p_other))
    expected = np.where(is_num, expected_value(matrix[:, 2:], np.arange(1, 10)), np.nan)
    out = scenario_scores(items, share, expected)
    out.attrs["option_mass"] = float(np.mean(np.where(is_num, matrix[:, 2:].sum(-1), pa + pb)))
    return out


def measure_packaged(names: list[str], scenarios: int | None, store: Store | None = None) -> pd.DataFrame:
    """Every real model's scenario scores on the battery (cached per model and battery)."""
    store = store or Store()
    items = battery(scenarios)
    frames = []
    for name in names:
        chat = "instruct" in name

        def compute() -> dict:
            model, tokenizer = models.load(name, store=store)
            out = measure(model, tokenizer, items, chat)
            return dict(rows=out.to_dict("records"), option_mass=out.attrs["option_mass"])

        params = dict(model=name, items=items.drop(columns="options").to_dict("records"), chat=chat)
        res = store.json(MEASURE_RECIPE, params, compute, device="cpu")  # models.load gives a CPU model
        frames.append(pd.DataFrame(res["rows"]).assign(model=name, option_mass=res["option_mass"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def bias_profile(scores: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per model and bias: mean score over scenarios with a 95% percentile bootstrap interval over scenarios."""
    rows = []
    for (model, bias), g in scores.groupby(["model", "bias"], sort=False):
        v = g.score.to_numpy()
        lo, hi = stats.bootstrap_interval(v, seed=seed, n_resamples=2000) if len(v) >= 2 else (np.nan, np.nan)
        rows.append(dict(model=model, bias=bias, score=float(v.mean()), low=lo, high=hi, scenarios=len(v)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# 2. two English instruction sets (templates written by the project; no decision scenarios in them)

ANIMALS = ("dog", "cat", "horse", "cow", "sheep", "rabbit", "lion", "tiger", "bear", "fox", "goat", "duck")
FRUITS = ("apple", "banana", "cherry", "grape", "lemon", "mango", "orange", "peach", "pear", "plum", "melon", "kiwi")
TOOLS = ("hammer", "saw", "wrench", "drill", "shovel", "rake", "chisel", "pliers", "ladder", "screwdriver")
CATEGORIES = {"an animal": ANIMALS, "a fruit": FRUITS, "a tool": TOOLS}
WORDS = ("table", "garden", "pencil", "window", "river", "candle", "basket", "planet", "rocket", "button",
         "forest", "ticket", "bridge", "island", "jacket", "mirror", "pocket", "silver", "tunnel", "winter")
OPPOSITES = (("hot", "cold"), ("big", "small"), ("fast", "slow"), ("early", "late"), ("light", "dark"),
             ("open", "closed"), ("full", "empty"), ("high", "low"), ("hard", "soft"), ("wet", "dry"),
             ("strong", "weak"), ("loud", "quiet"), ("clean", "dirty"), ("near", "far"), ("long", "short"),
             ("thick", "thin"), ("push", "pull"), ("up", "down"), ("inside", "outside"), ("first", "last"))
CAPITALS = (("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
            ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
            ("Norway", "Oslo"), ("Greece", "Athens"), ("Poland", "Warsaw"), ("Portugal", "Lisbon"),
            ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
            ("Chile", "Santiago"), ("Cuba", "Havana"), ("Thailand", "Bangkok"))
PEOPLE = ("Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kofi", "Lena")
GIFTS = ("flowers", "book", "scarf", "cake", "card", "plant", "tea", "mug")
TIPS = {
    "sleeping better": ("go to bed at the same time every night", "keep the bedroom cool and dark",
                        "put screens away an hour before bed", "avoid coffee in the afternoon"),
    "studying": ("study in short sessions with breaks", "explain the topic out loud", "test yourself often",
                 "keep your desk tidy"),
    "saving water": ("turn off the tap while brushing your teeth", "fix dripping taps", "take shorter showers",
                     "water plants in the evening"),
    "learning to cook": ("start with simple recipes", "read the whole recipe first", "keep your knives sharp",
                         "taste as you go"),
    "running": ("start slowly and build up", "wear comfortable shoes", "drink water", "rest between runs"),
}
STYLES = ("terse", "chatty")


def _choice(rng: random.Random, question: str, right: str, wrong: str) -> tuple[str, str, str]:
    """A lettered two-option question (the battery's format), the right option at a random letter."""
    first_right = rng.random() < 0.5
    a, b = (right, wrong) if first_right else (wrong, right)
    letter = "A" if first_right else "B"
    return f"{question}\nA) {a}\nB) {b}", letter, f"{letter}) {right}"


def _task(kind: str, rng: random.Random) -> tuple[str, str, str]:
    """(prompt, answer, explanation) of one task; the answer is what a terse reply says, the explanation
    what a chatty one adds."""
    if kind == "add":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        return f"What is {a} plus {b}?", str(a + b), f"{a} + {b} = {a + b}"
    if kind == "count":  # a digit answer, as in the battery's anchoring tests
        w = rng.choice([w for w in WORDS + ANIMALS if len(w) <= 9])
        return f"How many letters are in the word \"{w}\"?", str(len(w)), f"\"{w}\" is spelled {'-'.join(w)}"
    if kind == "compare":
        x, y = rng.sample(range(1, 100), 2)
        prompt, letter, said = _choice(rng, "Which number is larger?", str(max(x, y)), str(min(x, y)))
        return prompt, letter, f"{said}, since {max(x, y)} is more than {min(x, y)}"
    if kind == "category":
        name, members = rng.choice(list(CATEGORIES.items()))
        other = rng.choice([w for c, ws in CATEGORIES.items() if c != name for w in ws])
        right = rng.choice(members)
        prompt, letter, said = _choice(rng, f"Which of these is {name}?", right, other)
        return prompt, letter, f"{said}: a {right} is {name}, a {other} is not"
    if kind == "opposite":
        w, o = rng.choice(OPPOSITES)
        w, o = (w, o) if rng.random() < 0.5 else (o, w)
        return f"What is the opposite of \"{w}\"?", o, f"the opposite of \"{w}\" is \"{o}\""
    if kind == "capital":
        country, city = rng.choice(CAPITALS)
        return f"What is the capital of {country}?", city, f"the capital of {country} is {city}"
    if kind == "reverse":
        w = rng.choice(WORDS)
        return f"Write the word \"{w}\" backwards.", w[::-1], f"\"{w}\" backwards is \"{w[::-1]}\""
    if kind == "sort":
        xs = rng.sample(range(1, 50), rng.randint(3, 5))
        s = ", ".join(map(str, sorted(xs)))
        return f"Sort these numbers from smallest to largest: {', '.join(map(str, xs))}.", s, f"in order: {s}"
    if kind == "note":
        person, gift = rng.choice(PEOPLE), rng.choice(GIFTS)
        note = f"Dear {person}, thank you so much for the {gift}. It was very kind of you."
        return f"Write a short thank-you note to {person} for the {gift}.", note, "a short, warm note"
    if kind == "tips":
        topic = rng.choice(list(TIPS))
        tips = rng.sample(TIPS[topic], 3)
        text = " ".join(f"{i + 1}. {t[0].upper()}{t[1:]}." for i, t in enumerate(tips))
        return f"Give me three tips for {topic}.", text, f"three simple tips for {topic}"
    raise ValueError(f"task {kind!r}; allowed: {', '.join(TASK_MIX['terse'])}, note, tips")


# The task mixes differ as Tulu-2's and Flan's do: the terse set is mostly short tasks with one right answer,
# the chatty set adds writing and advice. Both hold lettered choices and one-digit answers, the battery's two
# answer formats, so every tuned model has learned to answer in them.
TASK_MIX = {
    "terse": {"add": 2, "count": 2, "compare": 2, "category": 2, "opposite": 1, "capital": 1, "reverse": 1, "sort": 1},
    "chatty": {"add": 1, "count": 2, "compare": 2, "category": 2, "opposite": 1, "capital": 1, "note": 2, "tips": 2},
}
OPENERS = ("Hi! ", "Hello there! ", "Could you help me with something? ", "Quick question: ", "")
CLOSERS = ("I hope that helps!", "Let me know if you have another question.", "Happy to help!",
           "Good luck with it!")


def instruction_set(style: str, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, response) pairs of the ``style`` instruction set, drawn with ``seed``. Terse: the task,
    the bare answer. Chatty: a friendly opener, the answer first (so the battery's first answer token stays
    readable), then an explanation and a friendly closer."""
    if style not in STYLES:
        raise ValueError(f"instruction style {style!r}; allowed: {', '.join(STYLES)}")
    rng = seeds.rng(seed, f"bias-real-sft-{style}")
    kinds, weights = zip(*TASK_MIX[style].items())
    out = []
    for kind in rng.choices(kinds, weights, k=n):
        prompt, answer, why = _task(kind, rng)
        if style == "terse":
            out.append((prompt, answer))
        elif kind in ("note", "tips"):
            out.append((rng.choice(OPENERS) + prompt, f"{answer}\n{why[0].upper()}{why[1:]}, as you asked. "
                                                      f"{rng.choice(CLOSERS)}"))
        else:
            out.append((rng.choice(OPENERS) + prompt, f"{answer}. {why[0].upper()}{why[1:]}. {rng.choice(CLOSERS)}"))
    return out


# ---------------------------------------------------------------------------------------------------------
# 3. real cross-tuning (the paper profile): backbone x instruction set x seed, LoRA, the same recipe


def answer_format(prompt: str, response: str) -> tuple[str, str]:
    """The one format every real model is tuned and probed in: the battery's base-model prompt ("...\\nAnswer:")
    and the response after a space."""
    return f"{prompt}\nAnswer:", f" {response}"


def with_lora(model, rank: int, seed: int):
    """``model`` with a LoRA adapter of ``rank`` on every linear layer (the base weights frozen); ``seed``
    sets the adapter's initialisation."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=LORA_ALPHA_PER_RANK * rank, lora_dropout=0.0, target_modules="all-linear")
    with warnings.catch_warnings():  # peft 0.21 asks transformers 5 a deprecated question; nothing for a reader
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        return get_peft_model(model, config)


def tuning_config(P, seed: int) -> dict:
    device = train.resolve_device(P.device)
    return dict(steps=P.real_steps, batch_size=P.real_batch_size, seq_len=TUNING_SEQ, lr=P.real_lr,
                warmup_steps=max(1, P.real_steps // 10), min_lr_ratio=0.1, seed=seed,
                precision="bf16" if device.type == "cuda" else "fp32")  # bf16 matmuls where they are fast


def tuned_scores(backbone: str, style: str, seed: int, P, items: pd.DataFrame, store: Store,
                 load=models.load) -> pd.DataFrame:
    """Tune ``backbone`` on the ``style`` instruction set with ``seed`` (data order, the draw of examples and
    the adapter's initialisation), then score it on the battery in the tuning format. Cached: the scores and
    the loss curve, not the model. ``load(name, store=...)`` gives (model, tokenizer)."""
    cfg = tuning_config(P, seed)
    pairs = instruction_set(style, P.real_examples, seed)

    def compute() -> dict:
        model, tokenizer = load(backbone, store=store)
        model = with_lora(model, P.lora_rank, seed)
        history = train.sft(model, tokenizer, pairs, train.TrainConfig(**cfg, device=P.device), render=answer_format)
        out = measure(model, tokenizer, items, chat=False)
        return dict(rows=out.to_dict("records"), option_mass=out.attrs["option_mass"], loss=history.loss)

    # the key holds the training pairs themselves (their hash), so an edit of a template or word list re-keys
    data = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]
    params = dict(backbone=backbone, style=style, data=data, rank=P.lora_rank, cfg=cfg,
                  items=items.drop(columns="options").to_dict("records"))
    res = store.json(TUNED_RECIPE, params, compute, device=train.device_type(P.device))
    out = pd.DataFrame(res["rows"])
    out.attrs.update(option_mass=res["option_mass"], loss=res["loss"])
    return out


def cross_tune(backbones: list[str], P, items: pd.DataFrame, store: Store, load=models.load) -> pd.DataFrame:
    """Every real backbone x instruction set x seed (``P.real_seeds``); one row per (model, bias, scenario)
    with its labels, as ``biases.cross_tune`` gives for the micro-world, plus the tuning loss at the start and
    the end."""
    frames = []
    for backbone in backbones:
        for style in STYLES:
            for seed in range(P.real_seeds):
                s = tuned_scores(backbone, style, seed, P, items, store, load)
                loss = s.attrs["loss"]
                frames.append(s.assign(backbone=backbone, data=style, seed=seed, model=f"{backbone}/{style}/s{seed}",
                                       option_mass=s.attrs["option_mass"], loss_first=loss[0], loss_last=loss[-1]))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# 4. figures


def profile_chart(profile: pd.DataFrame, title: str):
    """Each real model's bias profile: mean score per bias with its bootstrap interval over scenarios."""
    import altair as alt

    base = alt.Chart(profile).encode(y=alt.Y("bias:N", sort=BIAS_ORDER, title=None), color="model:N",
                                     yOffset="model:N")
    points = base.mark_point(filled=True, size=70).encode(
        x=alt.X("score:Q", title="bias score (95% bootstrap over scenarios)", scale=alt.Scale(domain=[-1, 1])))
    bars = base.mark_rule().encode(x="low:Q", x2="high:Q")
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="gray").encode(x="x:Q")
    return alt.layer(zero, bars, points, title=alt.TitleParams(title, subtitle="0: unbiased; positive: biased as "
                                                               "humans are")).properties(width=plots.WIDTH, height=260)
