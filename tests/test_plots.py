import json

import altair as alt
import pandas as pd

from sticky import book, plots


def test_save_writes_svg_png_and_vegalite(tmp_path, monkeypatch):
    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [1, 4, 9]})).mark_line().encode(x="x", y="y")
    paths = plots.save(chart, "ch", "squares", show=False)
    assert paths["svg"].read_text().lstrip().startswith("<svg")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(paths["vl.json"].read_text())["mark"]["type"] == "line"
    assert sorted(p.name for p in (tmp_path / "ch").iterdir()) == ["squares.html", "squares.png", "squares.svg",
                                                                   "squares.vl.json"]
    page = paths["html"].read_text()
    assert "vegaEmbed" in page and not book.REMOTE_FILE.findall(page)  # interactive, and it opens offline


def test_figure_shows_a_png_for_notebook_viewers_and_glues_the_svg(tmp_path, monkeypatch):
    import IPython.display
    import myst_nb

    monkeypatch.setenv("STICKY_FIGURES", str(tmp_path))
    shown, glued = [], {}
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display=True: glued.update({name: (obj, display)}))
    chart = alt.Chart(pd.DataFrame({"x": [1, 2], "y": [1, 4]})).mark_point().encode(x="x", y="y")
    paths = plots.figure(chart, "ch", "dots")
    assert [type(o).__name__ for o in shown] == ["Image"] and shown[0].data == paths["png"].read_bytes()
    obj, display = glued["fig-ch-dots"]
    assert type(obj).__name__ == "SVG" and display is False  # the book's numbered figure, not shown twice
