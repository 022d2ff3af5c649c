"""The book's chapters: where their sources live, their parameters, and how one is executed."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sticky.params import PROFILES, Spec
from sticky.store import Store, default_root, ensure_writable

ROOT = Path(__file__).resolve().parents[2]  # the repository: lib/sticky/chapters.py → ./
CHAPTERS = ROOT / "chapters"
# Build products go under $STICKY_BUILD/_build (tests point it at a temporary folder).
BUILD = Path(os.environ.get("STICKY_BUILD") or ROOT) / "_build"
EXECUTED = BUILD / "book"  # papermill outputs + book config: the source Jupyter Book builds from
RUNS = BUILD / "runs"  # the reader's own runs (``sticky run``): one folder per chapter and parameters
# Wall time of each chapter's last run at each profile's defaults, shown in its re-run box.
TIMINGS = Path(os.environ.get("STICKY_TIMINGS") or CHAPTERS / "timings.json")


@dataclass(frozen=True)
class Chapter:
    number: str  # "00"
    name: str  # "intro"
    source: Path  # chapters/00_intro.md

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def module(self):
        return importlib.import_module(f"sticky.experiments.{self.name}")

    @property
    def parameters(self) -> Spec:
        return self.module.PARAMETERS

    def validate(self, params: dict[str, Any]) -> None:
        """Check ``params`` as the chapter's first cell will: its module's ``resolve`` when it has extra
        checks (e.g. lists in strings), else the Spec's."""
        getattr(self.module, "resolve", self.parameters.resolve)(params)

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


def run_folder(chapter: Chapter, params: dict[str, Any]) -> Path:
    """Where a reader's own run of ``chapter`` with ``params`` writes: ``RUNS/<chapter>-<hash of the params>``."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return RUNS / f"{chapter.name}-{digest}"


@contextlib.contextmanager
def _environment(**values: str):
    """``os.environ`` with ``values`` set while the block runs (the kernel papermill starts inherits them)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(chapter: Chapter, params: dict[str, Any], output: Path | None = None, *, book: bool = False) -> Path:
    """Run ``chapter`` with papermill after validating ``params``; return the executed notebook.

    ``book``: a run of the book (``sticky build``, ``make book``): the notebook goes to ``chapter.executed`` (or
    ``output``), the figures and scorecard rows to the figures folder, and a run at a profile's own defaults
    records its time in ``TIMINGS`` for the re-run boxes. Otherwise a reader's own run (``sticky run``, a sweep
    point): the notebook goes to ``output`` or into ``run_folder``, its figures and scorecard rows into
    ``figures/`` beside it, and nothing the book reads is written (the scorecard chapter still reads the book's
    rows).

    The output is written to a temporary name and renamed when execution succeeds, so a failed or
    interrupted run never leaves a notebook that looks finished.
    """
    chapter.validate(params)  # bad input fails here, before a kernel starts
    if params.get("device") == "cuda":  # (torch is imported only when CUDA is asked for)
        import torch

        if not torch.cuda.is_available():
            raise ValueError("parameter 'device' is 'cuda' but this machine has no CUDA device; allowed: auto, "
                             "cpu, or cuda on a machine with an NVIDIA GPU and a CUDA build of torch")
    Store()  # and so does a cache folder that cannot be written
    read_timings()  # and a timings file that a run could not update
    book_figures = ROOT / os.environ.get("STICKY_FIGURES", "figures")  # as the kernel, in ROOT, resolves it
    if book:
        output, figures = Path(output or chapter.executed), book_figures
    else:
        output = Path(output) if output else run_folder(chapter, params) / f"{chapter.stem}.ipynb"
        figures = output.parent.resolve() / "figures"
    # and folders the run could not write into
    ensure_writable(output.parent, "the executed notebook's folder", "-o, or $STICKY_BUILD")
    ensure_writable(figures, "the figures folder", "-o" if not book else "$STICKY_FIGURES")
    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.read(chapter.source)
    _remove_stale_partials(output)
    # named by this process: two runs of one chapter never share them
    source = output.with_name(f".{output.stem}.source-{os.getpid()}.ipynb")
    partial = output.with_name(f".{output.stem}.partial-{os.getpid()}.ipynb")
    nbformat.write(notebook, source)
    entries_before = _cache_entries()
    started = time.perf_counter()
    try:
        # the kernel draws its bars on this terminal, never in the notebook (``sticky.progress``); a sweep point,
        # whose worker has no terminal, draws on the sweep's (``STICKY_TERMINAL`` set by ``sweep.sweep``)
        terminal = (os.ttyname(sys.stderr.fileno()) if sys.stderr.isatty()
                    else os.environ.get("STICKY_TERMINAL", ""))
        with _environment(STICKY_FIGURES=str(figures), STICKY_BOOK_FIGURES=str(book_figures),
                          STICKY_TERMINAL=terminal):
            papermill.execute_notebook(
                str(source),
                str(partial),
                parameters=params,
                kernel_name="python3",
                cwd=str(ROOT),
                progress_bar=False,
                # live progress: what the chapter prints reaches this terminal as it runs
                stdout_file=sys.stdout,
                stderr_file=sys.stderr,
                # the kernel's own log (an unencrypted-TCP warning at start, a "KeyboardInterrupt caught" ERROR
                # line when papermill shuts it down after a run that succeeded) is not the chapter's output
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    finally:
        source.unlink(missing_ok=True)
    executed = nbformat.read(partial, as_version=4)
    for cell in executed.cells:  # the rendered page shows the parameters cell, not papermill's copy
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    seconds = round(time.perf_counter() - started, 1)
    from sticky.train import usable_cpus  # torch, imported only once a chapter has run

    cpus = usable_cpus()
    cache = "built" if _cache_entries() > entries_before else "reused"
    executed.metadata["sticky"] = {"parameters": params, "seconds": seconds, "cpus": cpus, "cache": cache,
                                   "book": book}
    if book and set(params) <= {"profile"}:  # only the book's run at a profile's own defaults times that profile
        _record_timing(chapter.name, params.get("profile", "book"), cache, seconds, cpus)
    _refresh_rerun_box(executed, chapter.name, seconds, cpus, params)
    nbformat.write(executed, partial)
    os.replace(partial, output)
    return output


def _refresh_rerun_box(notebook, name: str, seconds: float, cpus: int, params: dict[str, Any]) -> None:
    """The re-run box is drawn by the chapter's first cell, before the run it reports on has been timed: draw it
    again afterwards, with this run's own time and parameters, so the page shows the run that produced it."""
    import nbformat

    for cell in notebook.cells:
        if cell.cell_type == "code" and "rerun_box(" in cell.source:
            box = rerun_box(name, this_run=(seconds, cpus, params))
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": box, "text/plain": box})]


def _remove_stale_partials(output: Path) -> None:
    """The temporary notebooks next to ``output`` of runs whose process is gone (a failed run's partial notebook
    stays until the next run of the chapter, to be read; one that is still running keeps its own)."""
    from sticky.store import process_alive

    for path in output.parent.glob(f".{output.stem}.*-*.ipynb"):
        pid = path.stem.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
    for kind in ("partial", "source"):  # the names from before runs had their pid
        output.with_name(f".{output.stem}.{kind}.ipynb").unlink(missing_ok=True)


def _cache_entries() -> int:
    """Complete entries in the store; a run that adds any has trained or measured something itself."""
    return sum(1 for _ in default_root().glob("*/*/MANIFEST.json"))


def read_timings() -> dict:
    """The measured run times (``TIMINGS``; empty when there is none yet). A file that is not what runs write
    (a merge left conflict markers in it, say) is an error naming it, not a JSONDecodeError in every chapter."""
    if not TIMINGS.exists():
        return {}
    try:
        timings = json.loads(TIMINGS.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"timings file {TIMINGS} cannot be read ({err}); allowed: the JSON object that runs "
                         "write (git checkout it, or delete it to measure again)") from None
    if not (isinstance(timings, dict) and all(isinstance(v, dict) for v in timings.values())):
        raise ValueError(f"timings file {TIMINGS} is not a JSON object of chapters; allowed: the JSON object "
                         "that runs write (git checkout it, or delete it to measure again)")
    return timings


def _record_timing(name: str, profile: str, cache: str, seconds: float, cpus: int) -> None:
    """Keep the last wall time of ``name`` at ``profile``, separately for runs that built cache entries
    (trained or measured) and runs that found everything cached."""
    timings = read_timings()
    timings.setdefault(name, {}).setdefault(profile, {})[cache] = {"seconds": seconds, "cpus": cpus}
    tmp = TIMINGS.with_name(f".{TIMINGS.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, TIMINGS)


CACHE_WORDS = {"built": "training and measuring what it needs", "reused": "with everything in the cache"}


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_parameters(params: dict[str, Any]) -> str:
    """``params`` as the command line that sets them: `-p profile smoke -p seeds 2`."""
    return " ".join(f"-p {k} {v}" for k, v in params.items())


def rerun_box(name: str, this_run: tuple[float, int, dict] | None = None) -> str:
    """MyST for the box atop a chapter: how to re-run it, its parameters, how long it took, and (``this_run``:
    seconds, CPUs, parameters) the run that made this page: its time and the parameters it ran with."""
    chapter = find(name)
    timings = read_timings().get(chapter.name, {})
    took = "; ".join(
        f"`{profile}` " + ", ".join(
            f"{_duration(t['seconds'])} on {t['cpus']} CPU{'s' if t['cpus'] != 1 else ''} {CACHE_WORDS[cache]}"
            for cache, t in sorted(runs.items())
        )
        for profile, runs in sorted(timings.items(), key=lambda kv: PROFILES.index(kv[0]))
    ) or "not measured yet"
    this = ""
    if this_run:
        seconds, cpus, params = this_run
        given = f"`{run_parameters(params)}`" if params else "no parameters (the `book` profile's defaults)"
        this = (f" This page was made by a run of {_duration(seconds)} on {cpus} CPU{'s' if cpus != 1 else ''}, "
                f"with {given}.")
    cell = lambda text: text.replace("|", r"\|")  # a bare | would end the table cell (profile's "smoke | book")
    rows = "\n".join(
        f"| `{r['name']}` | `{r['default']!r}` | {r['allowed']} | {cell(r['meaning'])} |"
        for r in chapter.parameters.describe("book")
    )
    return f"""::::{{admonition}} Re-run this chapter
:class: tip dropdown

```bash
make chapter CH={chapter.name} PARAMS='-p profile smoke'
sticky run {chapter.name} -p profile smoke
jupytext --to ipynb {chapter.source.relative_to(ROOT)} -o - | papermill - out.ipynb -p profile smoke
```

Last measured run time: {took}.{this}

| parameter | default (`book`) | allowed | meaning |
|---|---|---|---|
{rows}
::::
"""
