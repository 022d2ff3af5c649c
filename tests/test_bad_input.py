"""Bad input, across the CLI and every chapter: one line naming what is wrong and what is allowed, a non-zero
exit, and nothing written."""

import subprocess
import sys

import pytest

from sticky import chapters, cli, models
from sticky.store import Recipe, Store

METRIC = Recipe("test-metric", 1)

CASES = [
    # (argv after `sticky`, words the one line must contain)
    (["run", "intro", "-p", "no_such_param", "1"], ["'no_such_param'", "allowed: profile"]),
    (["run", "intro", "-p", "profile", "huge"], ["'profile'", "smoke, book, paper"]),
    (["run", "intro", "-p", "seed", "-1"], ["'seed'", "[0, 4294967295]"]),
    (["run", "intro", "-p", "seed", str(2**64)], ["'seed'", "[0, 4294967295]"]),
    (["run", "intro", "-p", "seed", "abc"], ["'seed'", "int"]),
    (["run", "intro", "-p", "model", "gpt-9"], ["'model'", "micro-s, micro-m, micro-l"]),
    (["run", "intro", "-p", "pretrain_steps", "0"], ["'pretrain_steps'", "[1, inf)"]),
    (["run", "intro", "-p", "device", "tpu"], ["'device'", "auto, cpu, cuda"]),
    (["run", "no_such_chapter"], ["'no_such_chapter'", "allowed: intro, priming"]),
    (["run", "priming", "-p", "keywords_per_theme", "-1"], ["'keywords_per_theme'", "[1, 20]"]),
    (["run", "priming", "-p", "texts_per_keyword", "0"], ["'texts_per_keyword'", "[1, 100]"]),
    (["run", "priming", "-p", "lr", "0"], ["'lr'", "(0, 1]"]),
    (["run", "priming", "-p", "lr", "2.5"], ["'lr'", "(0, 1]"]),
    (["run", "priming", "-p", "batch_size", "1"], ["'batch_size'", "[2, 1024]"]),
    (["run", "priming", "-p", "exposures", "1,x"], ["exposures"]),
    (["run", "priming", "-p", "ignore_k_values", "0,150"], ["ignore_k_values"]),
    (["run", "priming", "-p", "real_model", "gpt-9"], ["'real_model'", "gemma-3-270m"]),
    (["run", "priming", "-p", "learn_steps", "True"], ["'learn_steps'", "int"]),
    (["run", "poisoning", "-p", "counts", "0"], ["counts", "(0, 4096]"]),
    (["run", "synthesis", "-p", "backdoors", "20"], ["'backdoors'", "a multiple of 12"]),
    (["run", "synthesis", "-p", "exposures", "8"], ["'exposures'", "two different counts"]),
    (["run", "synthesis", "-p", "doses", "0.1,2"], ["'doses'"]),
    (["run", "synthesis", "-p", "ignore_k", "60"], ["'ignore_k'", "[0, 50]"]),
    (["build", "-p", "no_such_param", "1"], ["'no_such_param'"]),
    # a value that starts with "-" reaches the chapter's own check (argparse used to take it for an option)
    (["run", "context", "-p", "scale_factors", "-2,x"], ["scale_factors"]),
    (["run", "intro", "-p", "seed", "1", "-p", "seed", "2"], ["'seed' given twice", "each parameter once"]),
    (["build", "--only"], ["--only names no chapter"]),
    (["list", "--profile", "Book"], ["'Book'", "smoke, book, paper"]),
    (["list", "nope"], ["unknown chapter", "allowed: intro"]),
]


@pytest.mark.parametrize("argv, words", CASES, ids=[" ".join(c[0][1:]) for c in CASES])
def test_cli_rejects_in_one_line_and_writes_nothing(argv, words, capsys, tmp_path):
    out = tmp_path / "executed.ipynb"
    extra = ["-o", str(out)] if argv[0] == "run" else []
    assert cli.main(argv + extra) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sticky: error: "), lines
    assert all(w in lines[0] for w in words), lines[0]
    assert "allowed" in lines[0]
    assert not list(tmp_path.iterdir()), "nothing is written for rejected input"


def test_every_chapter_refuses_bad_input_without_importing_torch():
    """Why rejection takes about a second (``make bench`` times it): no chapter's parameter check imports torch,
    transformers or datasets. A fresh process, since this one has them loaded already."""
    names = [ch.name for ch in chapters.all_chapters()]
    code = ("import sys\nfrom sticky import cli\n"
            f"codes = [cli.main(['run', name, '-p', 'profile', 'huge']) for name in {names!r}]\n"
            "print(codes, sorted({'torch', 'transformers', 'datasets'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{[2] * len(names)} []"


def test_cuda_without_a_cuda_device_is_refused_before_any_work(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["run", "intro", "-p", "device", "cuda", "-o", str(tmp_path / "x.ipynb")]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "'device'" in line and "no CUDA device" in line and "allowed" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["-o", "figures beside -o", "STICKY_FIGURES"])
def test_an_output_folder_that_cannot_be_written_is_one_line(where, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    if where == "-o":  # a reader's run: the notebook's folder
        argv = ["run", "intro", "-o", str(blocker / "x.ipynb")]
    elif where == "figures beside -o":  # a reader's run: its figures go beside its notebook
        argv = ["run", "intro", "-o", str(tmp_path / "x.ipynb")]
        blocker = blocker.rename(tmp_path / "figures")
    else:  # the book's run: the figures folder
        monkeypatch.setenv("STICKY_FIGURES", str(blocker / "figures"))
        argv = ["build", "--only", "intro"]
    assert cli.main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and str(blocker) in line and "not writable" in line and "allowed" in line


def test_an_uncached_hub_backbone_offline_names_only_what_the_parameter_takes(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["run", "biases", "-p", "real_backbones", "gemma-3-270m,owner/not-cached-here"]) == 2
    line = capsys.readouterr().err.strip()
    assert "'real_backbones'" in line and "offline" in line and "micro-m" not in line
    assert line.endswith("allowed offline: gemma-3-270m, smollm2-135m-instruct")


def test_proxy_hub_ids_offline_are_refused_before_any_work(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ids = ["-p", "real_large", "foo/a", "-p", "real_direct", "foo/b", "-p", "real_small", "foo/c",
           "-p", "real_expert", "foo/d"]
    assert cli.main(["run", "proxy", *ids, "-o", str(tmp_path / "x.ipynb")]) == 2
    line = capsys.readouterr().err.strip()
    assert "'real_large'" in line and "offline" in line and "allowed" in line and "\n" not in line
    assert not list(tmp_path.iterdir())


def test_a_parameter_without_its_value_is_one_line(capsys):
    assert cli.main(["run", "intro", "-p", "seed"]) == 2
    assert capsys.readouterr().err.strip() == "sticky: error: -p needs a name and a value; allowed: -p NAME VALUE"


@pytest.mark.parametrize("text", ["<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n", "[1, 2]", '{"intro": 5}'])
def test_a_damaged_timings_file_is_named_before_any_work(text, tmp_path, monkeypatch, capsys):
    from sticky import chapters

    timings = tmp_path / "timings.json"
    timings.write_text(text)
    monkeypatch.setattr(chapters, "TIMINGS", timings)
    assert cli.main(["run", "intro", "-o", str(tmp_path / "out" / "executed.ipynb")]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and f"timings file {timings}" in line and "allowed" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timings.json"] and timings.read_text() == text


def test_unwritable_cache_dir_fails_before_any_work(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STICKY_CACHE", str(blocker / "cache"))
    assert cli.main(["run", "intro", "-p", "profile", "smoke", "-o", str(tmp_path / "x.ipynb")]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "not writable" in line and "STICKY_CACHE" in line
    assert not (tmp_path / "x.ipynb").exists()


def test_missing_packaged_model_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "packaged_available", lambda name: False)
    with pytest.raises(ValueError) as err:
        models.load("gemma-3-270m", store=Store(tmp_path))
    assert "\n" not in str(err.value) and "not installed" in str(err.value) and "allowed" in str(err.value)
    assert not list(tmp_path.glob("dequantised/*")), "no entry is started for a model that is not there"


@pytest.mark.parametrize("manifest", ["null", '{"result.json": 5}', "{}", '{"result.json": {"size": "1"}}'])
def test_a_manifest_of_another_shape_is_corrupt_and_rebuilt(manifest, tmp_path):
    store = Store(tmp_path)
    store.json(METRIC, {"seed": 0}, lambda: {"acc": 0.5})
    entry = next((tmp_path / METRIC.step).iterdir())
    (entry / "MANIFEST.json").write_text(manifest)
    if manifest == "{}":
        (entry / "result.json").unlink()  # an empty manifest over no files was trusted
    assert not store.is_complete(entry)
    assert store.json(METRIC, {"seed": 0}, lambda: {"acc": 0.25}) == {"acc": 0.25}


def test_a_build_that_writes_nothing_is_refused(tmp_path):
    with pytest.raises(ValueError, match="recipe 'test-metric' wrote no file"):
        Store(tmp_path).cached(METRIC, {"seed": 1}, lambda folder: None)


def test_corrupt_cache_entry_is_rebuilt_not_trusted(tmp_path):
    store = Store(tmp_path)
    entry = store.json(METRIC, {"seed": 0}, lambda: {"acc": 0.5})
    assert entry == {"acc": 0.5}
    (next((tmp_path / METRIC.step).iterdir()) / "result.json").write_text('{"acc": 0.99}')  # tampered
    assert store.json(METRIC, {"seed": 0}, lambda: {"acc": 0.5}) == {"acc": 0.5}
