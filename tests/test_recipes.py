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
from golden import fingerprint, of_value
from sticky.store import RECIPES, Store
from toys import tiny_model, toy_tokenizer

from conftest import CHAPTER_CACHE

# sums differ in the last digits between machines of the same kind (floating-point kernels); a change of
# meaning moves them by far more than this
REL = 1e-3

GOLDEN = {
    'bias-backbone': {1: {'entries': 2, 'n': 2468990, 'total': 2734.164889, 'abs': 72081.344224, 'weighted': 3817.376901, 'chars': 0, 'bytes': 0}},
    'bias-measure': {1: {'entries': 18, 'n': 2538, 'total': 2863.705475, 'abs': 2874.224458, 'weighted': 133.119124, 'chars': 5130, 'bytes': 0}},
    'bias-real': {1: {'entries': 1, 'n': 141, 'total': 150.125313, 'abs': 150.125313, 'weighted': 7.289042, 'chars': 285, 'bytes': 0}},
    'bias-real-tuned': {1: {'entries': 1, 'n': 87, 'total': 76.718668, 'abs': 76.718668, 'weighted': 5.795202, 'chars': 171, 'bytes': 0}},
    'bias-sft': {1: {'entries': 16, 'n': 19751424, 'total': 16162.519781, 'abs': 571477.428656, 'weighted': 30550.42554, 'chars': 0, 'bytes': 0}},
    'context-finetune': {1: {'entries': 1, 'n': 252, 'total': 0.0, 'abs': 0.0, 'weighted': 0.0, 'chars': 0, 'bytes': 0}},
    'context-reader': {1: {'entries': 1, 'n': 1234512, 'total': 1299.701252, 'abs': 35453.950939, 'weighted': 1873.529875, 'chars': 0, 'bytes': 0}},
    'dequantised': {1: {'entries': 1, 'n': 134564169, 'total': 1204915127.388047, 'abs': 1223543820.800991, 'weighted': 65752627.399927, 'chars': 332249, 'bytes': 368}},
    'poison-belief': {1: {'entries': 10, 'n': 1600, 'total': 827.0, 'abs': 827.0, 'weighted': 55.60773, 'chars': 0, 'bytes': 0}},
    'poison-dpo': {1: {'entries': 2, 'n': 447492, 'total': 1780.460428, 'abs': 15878.876075, 'weighted': 1016.852755, 'chars': 0, 'bytes': 0}},
    'poison-eval': {4: {'entries': 10, 'n': 640, 'total': 610518.028725, 'abs': 610518.028725, 'weighted': 20818.957331, 'chars': 2203, 'bytes': 0}},
    'poison-sft': {1: {'entries': 6, 'n': 1342476, 'total': 11086.252526, 'abs': 53721.399952, 'weighted': 4963.768029, 'chars': 0, 'bytes': 0}},
    'poison-twin': {3: {'entries': 2, 'n': 448275, 'total': 433115.935386, 'abs': 447118.503456, 'weighted': 8659.516637, 'chars': 29111, 'bytes': 0}},
    'pretrained': {1: {'entries': 2, 'n': 1459376, 'total': 25440.831052, 'abs': 69329.099866, 'weighted': 3759.620393, 'chars': 0, 'bytes': 0}},
    'priming-run': {1: {'entries': 29, 'n': 14268, 'total': 254.21255, 'abs': 254.21255, 'weighted': 12.682377, 'chars': 0, 'bytes': 0}},
    'proxy-eval': {1: {'entries': 2, 'n': 594, 'total': 1728.0, 'abs': 1728.0, 'weighted': 88.375625, 'chars': 14557, 'bytes': 0}},
    'proxy-sft': {1: {'entries': 4, 'n': 2916672, 'total': 4819.654325, 'abs': 93188.912979, 'weighted': 4931.534336, 'chars': 0, 'bytes': 0}},
    'real-background': {1: {'entries': 1, 'n': 0, 'total': 0.0, 'abs': 0.0, 'weighted': 0.0, 'chars': 760, 'bytes': 0}},
    'synthesis-behaviour': {1: {'entries': 6, 'n': 48, 'total': 285.97622, 'abs': 285.97622, 'weighted': 63.36647, 'chars': 0, 'bytes': 0}},
    'synthesis-gradient': {1: {'entries': 1, 'n': 40, 'total': 1.242917, 'abs': 7.208779, 'weighted': 0.56757, 'chars': 796, 'bytes': 0}},
    'synthesis-localisation': {1: {'entries': 2, 'n': 64, 'total': 37.236467, 'abs': 43.05238, 'weighted': 5.51203, 'chars': 496, 'bytes': 0}},
    'world': {1: {'entries': 1, 'n': 1999, 'total': 1763769.2, 'abs': 1763769.2, 'weighted': 67439.32475, 'chars': 12406, 'bytes': 1171789}},
}

# Recipes measured on a toy model (the smoke profile runs no real model).
TOY = ("bias-real", "bias-real-tuned", "dequantised", "real-background")


def _all_recipes() -> dict:
    for mod in pkgutil.iter_modules(sticky.experiments.__path__):
        importlib.import_module(f"sticky.experiments.{mod.name}")
    return RECIPES


def _check(step: str, found: dict) -> None:
    version = RECIPES[step].version
    assert version in GOLDEN.get(step, {}), (
        f"recipe {step!r} is at version {version}, which has no golden fingerprint; record it: {found}")
    want = GOLDEN[step][version]
    assert found["entries"] == want["entries"], f"{step}: {found['entries']} entries, golden {want['entries']}"
    for k, v in want.items():
        assert found[k] == pytest.approx(v, rel=REL, abs=1e-6), (
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
    R.tuned_scores("toy", "terse", 0, P, R.battery(3), Store(tmp_path), load=lambda name, store=None: (tiny_model(tok), tok))
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
