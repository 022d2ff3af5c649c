"""The same chapter with the same parameters and seed gives bit-identical numbers on CPU: two chapters run
twice at smoke, each time from an empty cache (so everything is trained and measured again)."""

import json

import nbformat
import pytest

from sticky import chapters


def glued_numbers(notebook) -> dict:
    """Every value a chapter glues into its prose, plus its text tables, by cell. Speeds (glue names ending
    in ``_per_s``) are wall-clock measurements, not results, and are left out."""
    out = {}
    for i, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime, value in data.items():
                name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
                if mime.startswith("application/papermill.record") and not name.endswith("_per_s"):
                    out[f"glue:{name}"] = value
            if "text/html" in data and "<table" in data["text/html"]:
                out[f"table:{i}"] = data.get("text/plain")
    return out


@pytest.mark.slow
def test_two_chapters_are_bit_identical_across_fresh_runs(tmp_path, monkeypatch):
    runs = []
    for attempt in ("first", "second"):
        monkeypatch.setenv("STICKY_CACHE", str(tmp_path / attempt / "cache"))
        monkeypatch.setenv("STICKY_FIGURES", str(tmp_path / attempt / "figures"))
        runs.append({
            name: glued_numbers(chapters.execute(chapters.find(name), {"profile": "smoke", "seed": 3},
                                                 tmp_path / attempt / f"{name}.ipynb"))
            for name in ("intro", "priming")
        })
    first, second = runs
    for name in first:
        assert len(first[name]) >= 5, f"{name}: too few numbers to compare"
        assert json.dumps(first[name], sort_keys=True) == json.dumps(second[name], sort_keys=True), name
