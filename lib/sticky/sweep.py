"""``sticky sweep CHAPTER --grid seed=0,1,2 model=a,b [--address ADDR]``: one papermill run per grid point.

Each point is a Ray task (a local Ray runtime by default, a cluster when an address is given). Points share
the store, so what one trains the others reuse; each writes its executed notebook and figures under
``_build/sweeps/<chapter>/<point>/``, the point named by its grid values and a hash of every parameter it runs
with. A point whose notebook exists finished (``chapters.execute`` renames it into place only on success) and
is skipped on a re-run with the same parameters; other fixed parameters make other points. A failing point
is reported with its error while the others finish. The points' scorecard rows are merged into
``_build/sweeps/<chapter>/scorecard.csv``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from pathlib import Path

import pandas as pd

from sticky import chapters
from sticky.params import parse_cli_value


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["seed=0,1", "model=a,b"]`` → ``{"seed": [0, 1], "model": ["a", "b"]}``. A list-valued parameter (a
    comma-separated string, such as ``rates``) takes its values in brackets, separated by ``;``:
    ``rates=[1e-3,1e-2];[1e-4]`` → ``{"rates": ["1e-3,1e-2", "1e-4"]}``."""
    grid = {}
    allowed = "NAME=V1,V2,… (e.g. seed=0,1,2), or NAME=[V1,V2];[V3] for a list-valued parameter"
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"grid item {item!r}; allowed: {allowed}")
        if name in grid:
            raise ValueError(f"grid parameter {name!r} given twice; allowed: each name once, its values in one list")
        if values.startswith("["):
            lists = values.split(";")
            if not all(v.startswith("[") and v.endswith("]") and len(v) > 2 for v in lists):
                raise ValueError(f"grid item {item!r}; allowed: {allowed}")
            grid[name] = [v[1:-1] for v in lists]
        else:
            grid[name] = [parse_cli_value(v) for v in values.split(",")]
    return grid


def points(grid: dict[str, list], fixed: dict) -> list[dict]:
    """Every combination of the grid's values, each with the fixed parameters."""
    names = list(grid)
    return [{**fixed, **dict(zip(names, combo))} for combo in itertools.product(*grid.values())]


def point_name(params: dict, grid: dict[str, list]) -> str:
    """The point's folder name: its grid values, readable, then a hash of every parameter it runs with
    (``seed=1,model=micro-s-3f2a9c1e``). Named by the grid values alone, a sweep at another profile found the
    first sweep's notebook and served it as its own."""
    label = ",".join(f"{k}={params[k]}" for k in grid).replace("/", "_")
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{label}-{digest}"


def _run_point(chapter_name: str, params: dict, folder: str) -> dict:
    """One grid point, in a Ray worker: execute the chapter, return its scorecard rows or its error."""
    folder = Path(folder)
    try:
        chapters.execute(chapters.find(chapter_name), params, folder / "executed.ipynb")
    except Exception as err:  # reported with the point; the other points go on
        message = str(err).strip().splitlines()
        return {"error": f"{type(err).__name__}: {message[-1] if message else ''}"}
    return {"error": None}


def sweep(chapter_name: str, grid: dict[str, list], fixed: dict, address: str | None = None,
          cpus_per_point: int | None = None, progress=print) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run every point not yet finished; return the merged scorecard and the errors by point. ``progress`` gets a
    line when the sweep starts and one as each point ends; the points' own output streams to this process's
    stdout as they run."""
    import time

    import ray

    chapter = chapters.find(chapter_name)
    todo = points(grid, fixed)
    for params in todo:  # all bad input fails before the first point runs
        chapter.validate(params)
    root = chapters.BUILD / "sweeps" / chapter.name
    folders = {point_name(p, grid): root / point_name(p, grid) for p in todo}
    pending = [(p, folders[point_name(p, grid)]) for p in todo
               if not (folders[point_name(p, grid)] / "executed.ipynb").exists()]
    errors = {}
    progress(f"sweep {chapter.name}: {len(pending)} of {len(todo)} points to run ({len(todo) - len(pending)} "
             f"finished before), in {root}")
    if pending:
        # Each point gets all of a local machine's cores by default: two chapters training side by side on
        # the same cores slow each other down far more than they gain.
        cpus = cpus_per_point or os.cpu_count()
        # Live output: what a point's chapter prints reaches this terminal, prefixed by Ray with the worker's
        # pid; on a local runtime its progress bars are drawn on this terminal too (a cluster's workers have none).
        terminal = os.ttyname(sys.stderr.fileno()) if sys.stderr.isatty() and not address else ""
        ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=True,
                 runtime_env={"env_vars": {"STICKY_TERMINAL": terminal}} if terminal else None,
                 **({} if address else {"num_cpus": os.cpu_count()}))
        task = ray.remote(num_cpus=cpus, max_retries=0)(_run_point)
        started = time.perf_counter()
        names = {task.remote(chapter.name, p, str(f)): point_name(p, grid) for p, f in pending}
        waiting = list(names)
        while waiting:
            (done,), waiting = ray.wait(waiting, num_returns=1)
            error = ray.get(done)["error"]
            if error:
                errors[names[done]] = error
            progress(f"  {names[done]}: {'failed' if error else 'done'} after {time.perf_counter() - started:.0f} s "
                     f"({len(names) - len(waiting)} of {len(names)})")
        ray.shutdown()
    return merged_scorecard(chapter.name, folders, grid, todo), errors


def merged_scorecard(chapter_name: str, folders: dict[str, Path], grid: dict[str, list],
                     todo: list[dict]) -> pd.DataFrame:
    """The finished points' scorecard rows, each with the point's grid values as columns."""
    frames = []
    for params in todo:
        csv = folders[point_name(params, grid)] / "figures" / chapter_name / "scorecard.csv"
        if csv.exists():
            frames.append(pd.read_csv(csv).assign(**{k: params[k] for k in grid}))
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frames:
        root = chapters.BUILD / "sweeps" / chapter_name
        merged.to_csv(root / "scorecard.csv", index=False)
    return merged
