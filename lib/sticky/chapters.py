"""The book's chapters: where their sources live, their parameters, and how one is executed."""

from __future__ import annotations

import importlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sticky.params import Spec

ROOT = Path(__file__).resolve().parents[2]  # the repository: lib/sticky/chapters.py → ./
CHAPTERS = ROOT / "chapters"
# Build products go under $STICKY_BUILD/_build (tests point it at a temporary folder).
BUILD = Path(os.environ.get("STICKY_BUILD") or ROOT) / "_build"
EXECUTED = BUILD / "book"  # papermill outputs + book config: the source Jupyter Book builds from


@dataclass(frozen=True)
class Chapter:
    number: str  # "00"
    name: str  # "intro"
    source: Path  # chapters/00_intro.md

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def parameters(self) -> Spec:
        return importlib.import_module(f"sticky.experiments.{self.name}").PARAMETERS

    @property
    def executed(self) -> Path:
        return EXECUTED / "chapters" / f"{self.stem}.ipynb"


def all_chapters() -> list[Chapter]:
    found = []
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.md")):
        number, name = re.fullmatch(r"(\d\d)_(\w+)", path.stem).groups()
        found.append(Chapter(number, name, path))
    return found


def find(name: str) -> Chapter:
    """A chapter by its name (``priming``), number (``01``) or stem (``01_priming``)."""
    chapters = all_chapters()
    for ch in chapters:
        if name in (ch.name, ch.number, ch.stem):
            return ch
    raise ValueError(f"unknown chapter {name!r}; allowed: {', '.join(c.name for c in chapters)}")


def execute(chapter: Chapter, params: dict[str, Any], output: Path | None = None) -> Path:
    """Run ``chapter`` with papermill after validating ``params``; return the executed notebook.

    The output is written to a temporary name and renamed when execution succeeds, so a failed or
    interrupted run never leaves a notebook that looks finished.
    """
    chapter.parameters.resolve(params)  # bad input fails here, before a kernel starts
    import jupytext
    import nbformat
    import papermill

    output = Path(output or chapter.executed)
    output.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(chapter.source)
    source = output.with_name(f".{output.stem}.source.ipynb")
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    nbformat.write(notebook, source)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(partial),
            parameters=params,
            kernel_name="python3",
            cwd=str(ROOT),
            progress_bar=False,
        )
    finally:
        source.unlink(missing_ok=True)
    executed = nbformat.read(partial, as_version=4)
    for cell in executed.cells:  # the rendered page shows the parameters cell, not papermill's copy
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    executed.metadata["sticky"] = {
        "parameters": params,
        "seconds": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
    }
    nbformat.write(executed, partial)
    os.replace(partial, output)
    return output
