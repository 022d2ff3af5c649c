"""`sticky sweep` on a local Ray runtime: points run as tasks, a failing point is reported while the others
finish, finished points are skipped on a re-run, and the points' scorecard rows are merged."""

import pytest

from sticky import sweep


def test_grid_parsing_and_points():
    grid = sweep.parse_grid(["seed=0,1", "model=micro-s,micro-m"])
    assert grid == {"seed": [0, 1], "model": ["micro-s", "micro-m"]}
    todo = sweep.points(grid, {"profile": "smoke"})
    assert len(todo) == 4 and todo[1] == {"profile": "smoke", "seed": 0, "model": "micro-m"}
    assert sweep.point_name(todo[1], grid).startswith("seed=0,model=micro-m-")
    # every parameter is in the name: the same grid at another profile is another point, never a stale one
    book = sweep.points(grid, {"profile": "book"})[1]
    assert sweep.point_name(book, grid) != sweep.point_name(todo[1], grid)
    assert sweep.point_name(dict(reversed(list(todo[1].items()))), grid) == sweep.point_name(todo[1], grid)
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        sweep.parse_grid(["seed"])
    with pytest.raises(ValueError, match="'seed' given twice"):
        sweep.parse_grid(["seed=0", "seed=1"])
    # a list-valued parameter: each value in brackets, the values separated by ";"
    assert sweep.parse_grid(["rates=[1e-3,1e-2];[1e-4]"]) == {"rates": ["1e-3,1e-2", "1e-4"]}
    lists = sweep.points(sweep.parse_grid(["rates=[1e-3,1e-2];[1e-4]"]), {"profile": "smoke"})
    assert [p["rates"] for p in lists] == ["1e-3,1e-2", "1e-4"]
    for bad in ("rates=[1e-3;1e-4]", "rates=[1e-3];", "rates=[]"):
        with pytest.raises(ValueError, match=r"NAME=\[V1,V2\];\[V3\]"):
            sweep.parse_grid([bad])


def test_bad_point_fails_before_any_point_runs():
    with pytest.raises(ValueError, match="'seed'"):
        sweep.sweep("priming", {"seed": [0, -1]}, {"profile": "smoke"})


@pytest.mark.slow
def test_sweep_runs_points_reports_failures_and_skips_finished_ones():
    grid = {"device": ["cpu", "cuda"]}  # no CUDA here: that point fails when it trains, the other finishes
    fixed = {"profile": "smoke", "pretrain_steps": 4}
    cpu, cuda = (sweep.point_name(p, grid) for p in sweep.points(grid, fixed))
    lines = []
    merged, errors = sweep.sweep("intro", grid, fixed, progress=lines.append)
    assert list(errors) == [cuda] and "CUDA" in errors[cuda]
    assert lines[0].startswith("sweep intro: 2 of 2 points to run (0 finished before)")
    assert sorted(line.split(":")[1].split()[0] for line in lines[1:]) == ["done", "failed"]  # one line per point
    assert merged.empty  # the intro makes no claims, so no scorecard rows
    done = sweep.chapters.BUILD / "sweeps" / "intro" / cpu / "executed.ipynb"
    assert not (done.parent.parent / cuda / "executed.ipynb").exists()
    stamp = done.stat().st_mtime_ns
    lines.clear()
    _, errors_again = sweep.sweep("intro", grid, fixed, progress=lines.append)
    assert done.stat().st_mtime_ns == stamp, "a finished point is not run again"
    assert lines[0].startswith("sweep intro: 1 of 2 points to run (1 finished before)")
    assert list(errors_again) == [cuda]

def test_merged_scorecard_adds_each_points_values(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep.chapters, "BUILD", tmp_path)
    grid = {"seed": [0, 1]}
    todo = sweep.points(grid, {"profile": "smoke"})
    folders = {sweep.point_name(p, grid): tmp_path / "sweeps" / "priming" / sweep.point_name(p, grid) for p in todo}
    for i, folder in enumerate(folders.values()):
        (folder / "figures" / "priming").mkdir(parents=True)
        (folder / "figures" / "priming" / "scorecard.csv").write_text(f"claim_id,our_value\nrho,{-0.5 - i / 10}\n")
    merged = sweep.merged_scorecard("priming", folders, grid, todo)
    assert merged.to_dict("list") == {"claim_id": ["rho", "rho"], "our_value": [-0.5, -0.6], "seed": [0, 1]}
    assert (tmp_path / "sweeps" / "priming" / "scorecard.csv").exists()
