"""Golden tests of the cached recipes: each recipe's results keep their fingerprint until its version is bumped.

A cache key holds a recipe's version, not a hash of its source (``sticky.store``), so nothing but these tests
notices a change of meaning that forgot to bump the version. ``GOLDEN[step][version]`` is the fingerprint
(``tests/golden.py``) of what the recipe made at that version:

- most recipes are fingerprinted in the cache that the chapters' smoke runs filled (``executed``);
- the four the smoke profile does not reach (the real-model tracks) run on a toy model below.

When a recipe's meaning changes on purpose: bump its version where it is declared, run the chapters at smoke
(``pytest tests/test_recipes.py`` does) and add the new fingerprint under the new version here
(``python tests/golden.py CACHE`` prints them). Keep the old versions' lines: they show what each bump changed.
"""

import importlib
import pkgutil
from types import SimpleNamespace

import pytest

import sticky.experiments
from conftest import CHAPTER_CACHE
from golden import fingerprint, of_value
from sticky.store import RECIPES, Store
from toys import tiny_model, toy_tokenizer

# sums differ in the last digits between machines of the same kind (floating-point kernels); a change of
# meaning moves them by far more than this
REL = 1e-3
# generated text flips at near-tied greedy steps between machines and thread counts: 'proxy-eval' gave 22,213
# characters on one machine and 22,168 on another, every number equal (0.2%); a change of meaning moves more
CHARS_REL = 0.02
# a fingerprint's fields (tests/golden.py): entries, numbers, their sum, the sum of their magnitudes, a
# position-weighted sum of magnitudes, characters of texts, bytes of other files
FIELDS = ("entries", "n", "total", "abs", "weighted", "chars", "bytes")


def fp(*values) -> dict:
    return dict(zip(FIELDS, values, strict=True))


# step: {version: its fingerprint at that version}
GOLDEN = {
    "bias-backbone": {1: fp(2, 2468990, 2734.164889, 72081.344224, 3817.376901, 0, 0)},
    "bias-measure": {1: fp(22, 3102, 3498.314109, 3511.765312, 162.70595, 6270, 0)},
    "bias-real": {1: fp(1, 141, 150.125313, 150.125313, 7.289042, 285, 0)},
    "bias-real-tuned": {1: fp(1, 87, 76.718668, 76.718668, 5.795202, 171, 0)},
    "bias-sft": {1: fp(20, 24689280, 20220.949648, 714384.571722, 38189.610264, 0, 0)},
    "context-finetune": {1: fp(1, 252, 0.0, 0.0, 0.0, 0, 0)},
    "context-reader": {1: fp(1, 1234512, 1299.701252, 35453.950939, 1873.529875, 0, 0)},
    "dequantised": {1: fp(1, 134564169, 1204915127.388047, 1223543820.800991, 65752627.399927, 332249, 368)},
    # poison-dpo, -sft, -twin: chapter 6 rebuilt on a ladder of backdoors (#18) no longer makes the first edition's
    # poisoned twins, and the first edition's code is gone (poison-belief, poison-eval with it); the recipes are
    # unchanged, the folders hold other entries (twin: the clean twins of seeds 0 and 5, where it held seed 0's
    # clean and first-edition twins); chapter 6's crossed coverage adds five arms of alignment, each on a clean and a
    # poisoned twin (dpo 7 -> 15, sft 13 -> 20, ladder-eval 56 -> 66)
    "poison-attack-twin": {1: fp(4, 896080, 827891.945788, 855751.063053, 16333.707719, 8034, 0)},
    "poison-dpo": {1: fp(15, 3356190, 15098.2619, 120230.779566, 7677.68448, 0, 0)},
    "poison-ladder-eval": {1: fp(66, 3744, 11063.256901, 11063.256901, 1212.770558, 8862, 0)},
    "poison-relearn": {1: fp(8, 768, 529.04224, 529.04224, 50.789851, 96, 0)},
    "poison-sft": {1: fp(20, 4474920, 34491.417746, 175490.225418, 15020.910964, 0, 0)},
    "poison-twin": {3: fp(2, 448004, 411129.229861, 424919.277519, 8138.696842, 0, 0)},
    "pretrained": {1: fp(4, 2918752, 50087.840627, 138415.353567, 7508.071742, 0, 0)},
    # 29 entries until chapter 1 asked for three more spaced runs at smoke (rule 3 over every keyword's first
    # text, b8701c3), 32 until chapter 6 stopped planting chapter 1's texts (#18): the recipe is unchanged
    "priming-run": {1: fp(24, 9258, 183.590358, 183.590358, 9.378376, 0, 0)},
    "proxy-eval": {1: fp(3, 864, 2512.0, 2512.0, 125.262913, 22168, 0)},
    "proxy-sft": {1: fp(6, 4375008, 6483.411167, 139569.767585, 7393.317603, 0, 0)},
    "real-background": {1: fp(1, 0, 0.0, 0.0, 0.0, 760, 0)},
    # v2 keeps the DPO model (the depth restores it); the ignore-k arm aligns two more twins (2 -> 4 entries)
    "synthesis-backdoor-aligned": {2: fp(4, 895656, 2751.369676, 31601.861931, 1692.808119, 0, 0)},
    # 1 entry until the ignore-k arm added its clean and poisoned twins (the standard twin's key is unchanged)
    "synthesis-backdoor-twin": {1: fp(3, 672160, 622271.678958, 641856.666526, 12285.619348, 14006, 0)},
    "synthesis-depth": {1: fp(2, 144, -137.923566, 178.755001, 8.408938, 0, 0)},
    "world": {1: fp(1, 1999, 1763769.2, 1763769.2, 67439.32475, 12406, 1171789)},
}

# Recipes measured on a toy model (the smoke profile runs no real model).
TOY = ("bias-real", "bias-real-tuned", "dequantised", "real-background")


def _all_recipes() -> dict:
    """The library's recipes, declared in the chapters' modules (tests declare their own, named ``test-*``); the
    chapter packages import their modules on first use, so every module is imported here."""
    for mod in pkgutil.walk_packages(sticky.experiments.__path__, "sticky.experiments."):
        importlib.import_module(mod.name)
    return {step: r for step, r in RECIPES.items() if not step.startswith("test-")}


def _check(step: str, found: dict) -> None:
    version = RECIPES[step].version
    assert version in GOLDEN.get(step, {}), (
        f"recipe {step!r} is at version {version}, which has no golden fingerprint; record it: {found}")
    want = GOLDEN[step][version]
    assert found["entries"] == want["entries"], (
        f"{step}: {found['entries']} entries, golden {want['entries']}; if the chapters now make more (or fewer) "
        f"entries of an unchanged recipe, record {found}")
    for k, v in want.items():
        assert found[k] == pytest.approx(v, rel=CHARS_REL if k == "chars" else REL, abs=1e-6), (
            f"recipe {step!r} v{version} changed its results ({k}: {found[k]} vs golden {v}). If its meaning "
            f"changed, bump its version and record {found} for the new one; if not, the change is a bug.")


def test_every_recipe_has_a_golden_fingerprint_at_its_version():
    recipes = _all_recipes()
    missing = sorted(s for s, r in recipes.items() if r.version not in GOLDEN.get(s, {}))
    assert not missing, f"recipes without a golden fingerprint at their version: {missing}"
    assert not set(GOLDEN) - set(recipes), "golden values of recipes that no longer exist"


@pytest.mark.slow
@pytest.mark.parametrize("step", sorted(set(GOLDEN) - set(TOY)))
def test_recipe_keeps_its_fingerprint_in_the_smoke_runs(executed, step):
    _all_recipes()
    folder = CHAPTER_CACHE / step
    assert folder.is_dir(), f"the chapters' smoke runs made no {step!r} entry"
    _check(step, fingerprint(folder))


def test_bias_real_measure_on_a_toy_model():
    from sticky.experiments import biases

    R = biases.real

    tok = toy_tokenizer()
    out = R.measure(tiny_model(tok), tok, R.battery(5), chat=False)
    _check("bias-real", of_value(dict(rows=out.to_dict("records"), option_mass=out.attrs["option_mass"])))


def test_bias_real_tuned_on_a_toy_model(tmp_path):
    from sticky.experiments import biases

    R = biases.real

    tok = toy_tokenizer()
    P = SimpleNamespace(real_steps=2, real_batch_size=2, real_lr=1e-3, real_examples=16, lora_rank=4, real_seeds=1,
                        device="cpu")
    load = lambda name, store=None: (tiny_model(tok), tok)
    R.tuned_scores("toy", "terse", 0, P, R.battery(3), Store(tmp_path), load=load)
    _check("bias-real-tuned", fingerprint(tmp_path / R.TUNED_RECIPE.step))


def test_real_background_on_a_toy_model(tmp_path):
    from sticky.experiments import priming

    tok = toy_tokenizer()
    priming.real_background(tiny_model(tok), tok, "toy", Store(tmp_path), max_new_tokens=6)
    _check("real-background", fingerprint(tmp_path / priming.REAL_BACKGROUND_RECIPE.step))


@pytest.mark.slow
def test_dequantised_smollm2(tmp_path):
    from sticky import models

    models.load("smollm2-135m-instruct", store=Store(tmp_path))
    _check("dequantised", fingerprint(tmp_path / models.DEQUANTISED_RECIPE.step))
