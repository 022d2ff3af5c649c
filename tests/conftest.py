"""Every test session runs on a fresh cache and a fresh build folder, so nothing passes because an old
artifact was left behind."""

import os
import tempfile
from pathlib import Path

import pytest

_session = Path(tempfile.mkdtemp(prefix="sticky-test-"))
# The chapters' smoke runs fill a cache of their own: tests/test_recipes.py fingerprints what they cached, which
# must not depend on what other tests happened to put in the shared one.
CHAPTER_CACHE = _session / "cache-chapters"
os.environ["STICKY_CACHE"] = str(_session / "cache")
os.environ["STICKY_BUILD"] = str(_session)
os.environ["STICKY_FIGURES"] = str(_session / "figures")
os.environ["STICKY_TIMINGS"] = str(_session / "timings.json")


@pytest.fixture(scope="session")
def executed():
    """Each chapter executed once at smoke (on ``CHAPTER_CACHE``), shared by the chapter tests, the book build
    and the recipes' golden tests."""
    from sticky import chapters

    shared = os.environ["STICKY_CACHE"]
    os.environ["STICKY_CACHE"] = str(CHAPTER_CACHE)
    try:
        return {ch.name: chapters.execute(ch, {"profile": "smoke"}, book=True) for ch in chapters.all_chapters()}
    finally:
        os.environ["STICKY_CACHE"] = shared


@pytest.fixture(scope="module")
def tok():
    """The toy tokenizer (tests/toys.py); a test module may define its own ``tok``."""
    from toys import toy_tokenizer

    return toy_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    """A tiny Llama on the toy tokenizer, in eval mode; a test module may define its own ``model``."""
    from toys import tiny_model

    return tiny_model(tok).eval()
