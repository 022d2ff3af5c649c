import json

import altair as alt
import pandas as pd

from sticky import plots


def test_save_writes_svg_png_and_vegalite(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [1, 4, 9]})).mark_line().encode(x="x", y="y")
    paths = plots.save(chart, "ch", "squares", show=False)
    assert paths["svg"].read_text().lstrip().startswith("<svg")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths["vl.json"].read_text())["mark"]["type"] == "line"
    assert sorted(p.name for p in (tmp_path / "ch").iterdir()) == ["squares.png", "squares.svg", "squares.vl.json"]
