import json

import pytest

from sticky.store import MANIFEST, Store, code_version, make_key


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

    first = store.cached("step", {"x": 1}, build)
    second = store.cached("step", {"x": 1}, build)
    assert first == second and len(calls) == 1
    assert (first / "a.txt").read_text() == "hello"
    assert set(json.loads((first / MANIFEST).read_text())) == {"a.txt", "sub/b.bin"}


def test_key_changes_with_params_inputs_and_code():
    base = make_key("s", {"x": 1})
    assert base == make_key("s", {"x": 1})
    assert len({base, make_key("s", {"x": 2}), make_key("s", {"x": 1}, ["k"]), make_key("s", {"x": 1}, code="v2")}) == 4


def test_code_version_tracks_source():
    import sticky.params
    import sticky.store

    assert code_version(sticky.store) != code_version(sticky.params)
    assert len(code_version(sticky.store)) == 16


def test_failed_build_leaves_nothing(tmp_path):
    store = Store(tmp_path)

    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        store.cached("step", {}, broken)
    assert list((tmp_path / "step").iterdir()) == []  # no temp folder, no entry


@pytest.mark.parametrize("damage", ["truncate", "delete_manifest", "extra_file", "flip_byte"])
def test_corrupt_entry_is_detected_and_rebuilt(tmp_path, damage):
    store = Store(tmp_path)
    entry = store.cached("step", {}, write("hello"))
    if damage == "truncate":
        (entry / "a.txt").write_text("hel")
    elif damage == "delete_manifest":
        (entry / MANIFEST).unlink()
    elif damage == "extra_file":
        (entry / "stray.tmp").write_text("?")
    else:
        (entry / "a.txt").write_text("jello")  # same size, different hash
    assert not store.is_complete(entry)
    rebuilt = store.cached("step", {}, write("hello"))
    assert store.is_complete(rebuilt) and (rebuilt / "a.txt").read_text() == "hello"
    assert not (rebuilt / "stray.tmp").exists()


def test_json_results(tmp_path):
    store = Store(tmp_path)
    assert store.json("metric", {"seed": 0}, lambda: {"acc": 0.5}) == {"acc": 0.5}
    assert store.json("metric", {"seed": 0}, lambda: 1 / 0) == {"acc": 0.5}  # reused, not recomputed


def test_env_var_sets_location(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_CACHE", str(tmp_path / "c"))
    assert Store().root == tmp_path / "c"


def test_cache_path_that_is_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError) as err:
        Store(blocker / "cache")
    assert "STICKY_CACHE" in str(err.value) and "\n" not in str(err.value)
