"""Fingerprints of the store's entries, for the golden tests of the cached recipes (tests/test_recipes.py).

A fingerprint summarises every entry of one step (one recipe) in a handful of sums: of the weights in its
safetensors files, of the numbers in its JSON and CSV files, of the characters of its texts, of the sizes of
its other files. A refactor that keeps what a recipe computes keeps these sums; a change of meaning (other
data, another loop, another metric) moves them far beyond the tolerance. Sums, not a hash of the bits: the
same commit gives slightly different floating-point bits on two machines of the same kind, and a hash would
call that a change of meaning.

Wall-clock measurements (``tokens_per_s``, ``seconds``…) are left out: they are not results.

To record new golden values after bumping a recipe: ``python tests/golden.py CACHE_DIR`` prints the
fingerprints of every step in a cache that the chapters' smoke runs filled.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

TIMING_WORDS = ("per_s", "seconds", "elapsed", "wall", "time")


def _is_timing(name: str) -> bool:
    return any(w in name.lower() for w in TIMING_WORDS)


class _Sums:
    def __init__(self):
        self.n = 0  # numbers seen
        self.total = 0.0  # their sum
        self.abs = 0.0  # the sum of their magnitudes
        self.weighted = 0.0  # a position-weighted sum of magnitudes: sensitive to where a value moved
        self.chars = 0  # characters of texts
        self.bytes = 0  # sizes of files read as opaque

    def number(self, v: float) -> None:
        self.n += 1
        if not math.isfinite(v) or abs(v) > 1e20:  # inf, nan, a tokenizer's "no maximum length" (1e30)
            return
        self.total += v
        self.abs += abs(v)
        self.weighted += abs(v) / (1 + self.n % 97)

    def walk(self, value, key: str = "") -> None:
        if _is_timing(key):
            return
        if isinstance(value, dict):
            for k in sorted(value):
                self.walk(value[k], str(k))
        elif isinstance(value, (list, tuple)):
            for v in value:
                self.walk(v, key)
        elif isinstance(value, (bool, int, float)):
            self.number(float(value))
        elif isinstance(value, str):
            self.chars += len(value)

    def as_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in vars(self).items()}


def _file(sums: _Sums, path: Path) -> None:
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        for name, tensor in sorted(load_file(str(path)).items()):
            flat = tensor.astype("float64").ravel()
            weights = 1.0 / (1 + (sums.n + 1 + np.arange(flat.size)) % 97)
            sums.n += flat.size
            sums.total += float(flat.sum())
            sums.abs += float(np.abs(flat).sum())
            sums.weighted += float((np.abs(flat) * weights).sum())
    elif path.suffix == ".json" and path.name != "MANIFEST.json":
        if path.name in ("config.json", "generation_config.json"):
            return  # a model's config: the library version writes it, and its sizes are in the weights
        sums.walk(json.loads(path.read_text()))
    elif path.suffix == ".csv":
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for k, v in row.items():
                    if _is_timing(k):
                        continue
                    try:
                        sums.number(float(v))
                    except (TypeError, ValueError):
                        sums.chars += len(v or "")
    elif path.name != "MANIFEST.json" and "tokenizer" not in path.name:
        sums.bytes += path.stat().st_size


def of_entry(entry: Path) -> dict:
    """The sums of one store entry."""
    sums = _Sums()
    for path in sorted(p for p in entry.rglob("*") if p.is_file()):
        _file(sums, path)
    return sums.as_dict()


def fingerprint(step_dir: Path) -> dict:
    """The sums over every complete entry of one step (entries in any order give the same sums)."""
    per_entry = [of_entry(e) for e in sorted(p for p in Path(step_dir).iterdir() if (p / "MANIFEST.json").exists())]
    out = {"entries": len(per_entry)}
    for k in ("n", "total", "abs", "weighted", "chars", "bytes"):
        out[k] = round(sum(e[k] for e in per_entry), 6)
    return out


def of_value(value) -> dict:
    """The sums of one JSON-able result (a recipe's output measured outside the store)."""
    sums = _Sums()
    sums.walk(value)
    return {"entries": 1, **{k: v for k, v in sums.as_dict().items()}}


def fingerprints(cache: Path) -> dict[str, dict]:
    return {d.name: fingerprint(d) for d in sorted(Path(cache).iterdir()) if d.is_dir() and not d.name.startswith(".")}


if __name__ == "__main__":
    for step, fp in fingerprints(Path(sys.argv[1])).items():
        print(f"    {step!r}: {fp},")
