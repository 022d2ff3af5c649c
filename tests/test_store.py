import json

import pytest

from sticky.store import MANIFEST, RECIPES, Recipe, Store, make_key

STEP = Recipe("test-step", 1)


def write(text):
    def build(folder):
        (folder / "a.txt").write_text(text)
        (folder / "sub").mkdir()
        (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")

    return build


def test_build_once_then_reuse(tmp_path):
    store = Store(tmp_path)
    calls = []

    def build(folder):
        calls.append(1)
        write("hello")(folder)

    first = store.cached(STEP, {"x": 1}, build)
    second = store.cached(STEP, {"x": 1}, build)
    assert first == second and len(calls) == 1
    assert (first / "a.txt").read_text() == "hello"
    assert set(json.loads((first / MANIFEST).read_text())) == {"a.txt", "sub/b.bin"}


def test_key_changes_with_params_inputs_recipe_version_and_device():
    s1, s2 = Recipe("test-key", 1), Recipe("test-key-other", 2)
    base = make_key(s1, {"x": 1})
    assert base == make_key(s1, {"x": 1})
    keys = {base, make_key(s1, {"x": 2}), make_key(s1, {"x": 1}, ["k"]), make_key(s2, {"x": 1}),
            make_key(s1, {"x": 1}, device="cpu"), make_key(s1, {"x": 1}, device="cuda")}
    assert len(keys) == 6


def test_a_recipe_is_declared_once():
    assert Recipe("test-key", 1) == RECIPES["test-key"]  # the same declaration again (a module reload) is fine
    with pytest.raises(ValueError, match="declared twice"):
        Recipe("test-key", 3)


def test_a_key_holds_no_source_text():
    """The key of a recipe, parameters, inputs and device is pinned: it does not depend on the code around
    them, so moving or documenting code re-keys nothing (a change of meaning bumps the version instead:
    tests/test_recipes.py)."""
    key = make_key(Recipe("test-pinned", 1), {"a": 1}, ["w"], "cpu")
    assert key == "79a52d30f2e989fb845d6acc"

def test_failed_build_leaves_nothing(tmp_path):
    store = Store(tmp_path)

    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        store.cached(STEP, {}, broken)
    assert list((tmp_path / STEP.step).iterdir()) == []  # no temp folder, no entry


@pytest.mark.parametrize("damage", ["truncate", "delete_manifest", "extra_file", "flip_byte"])
def test_corrupt_entry_is_detected_and_rebuilt(tmp_path, damage):
    store = Store(tmp_path)
    entry = store.cached(STEP, {}, write("hello"))
    if damage == "truncate":
        (entry / "a.txt").write_text("hel")
    elif damage == "delete_manifest":
        (entry / MANIFEST).unlink()
    elif damage == "extra_file":
        (entry / "stray.tmp").write_text("?")
    else:
        (entry / "a.txt").write_text("jello")  # same size, different hash
    assert not store.is_complete(entry)
    rebuilt = store.cached(STEP, {}, write("hello"))
    assert store.is_complete(rebuilt) and (rebuilt / "a.txt").read_text() == "hello"
    assert not (rebuilt / "stray.tmp").exists()


def test_json_results(tmp_path):
    store = Store(tmp_path)
    assert store.json(STEP, {"seed": 0}, lambda: {"acc": 0.5}) == {"acc": 0.5}
    assert store.json(STEP, {"seed": 0}, lambda: 1 / 0) == {"acc": 0.5}  # reused, not recomputed


def test_env_var_sets_location(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_CACHE", str(tmp_path / "c"))
    assert Store().root == tmp_path / "c"


def test_cache_path_that_is_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError) as err:
        Store(blocker / "cache")
    assert "STICKY_CACHE" in str(err.value) and "\n" not in str(err.value)


def test_debris_of_killed_builds_is_removed_and_live_builds_are_left_alone(tmp_path):
    """A build killed with -9 leaves its .tmp folder; the next build in that step removes it, unless the pid
    that named it is still running. Checkpoints (.work-*) stay: they resume the killed build."""
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    store = Store(tmp_path)
    step = tmp_path / STEP.step
    step.mkdir()
    killed, live = step / f".tmp-abc-{dead_pid}-x1", step / f".tmp-abc-{os.getpid()}-x2"
    work, corrupt = step / ".work-abc", step / ".corrupt-abc-1234"
    for folder in (killed, live, work, corrupt):
        folder.mkdir()
    store.json(STEP, {"a": 1}, lambda: {"v": 1})
    assert not killed.exists() and not corrupt.exists() and live.exists() and work.exists()


def test_two_processes_building_one_entry_build_it_once(tmp_path):
    """The second waits for the first and reads its entry: two builds of one key used to share its .work
    folder, and the first to finish deleted it under the other."""
    import subprocess
    import sys

    script = f"""
import time
from pathlib import Path
from sticky.store import Recipe, Store

def build(folder, work):
    with open({str(tmp_path / "builds.log")!r}, "a") as log:
        log.write("built\\n")
    (work / "checkpoint").write_text("step 1")
    time.sleep(1.5)
    (folder / "a.txt").write_text("done")

print(Store({str(tmp_path / "cache")!r}).cached(Recipe("test-step", 1), {{"a": 1}}, build, resumable=True))
"""
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [r.communicate(timeout=120)[0].strip() for r in runs]
    assert all(r.returncode == 0 for r in runs) and outs[0] == outs[1]
    assert (tmp_path / "builds.log").read_text() == "built\n"
    assert not list((tmp_path / "cache" / "test-step").glob(".work-*"))
