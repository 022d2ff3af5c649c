"""Figures: Altair charts saved as SVG + PNG + Vega-Lite JSON, shown inline as SVG.

Inline SVG keeps the built book offline: no Vega script from a CDN is ever needed to see a figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import altair as alt
import vl_convert as vlc

# Sized to the text column of the book's theme, so a figure never scrolls sideways.
WIDTH, HEIGHT = 520, 300


def figures_root() -> Path:
    return Path(os.environ.get("STICKY_FIGURES", "figures"))


class SavedFigure(dict):
    """The paths of a saved figure by format. Displays as nothing, so a cell ending in ``plots.save(...)``
    shows the figure once and no dictionary of paths under it."""

    def _ipython_display_(self) -> None:
        pass


def save(chart: alt.TopLevelMixin, chapter: str, name: str, *, show: bool = True) -> SavedFigure:
    """Write ``figures/<chapter>/<name>.{svg,png,vl.json}``; display the SVG; return the paths."""
    folder = figures_root() / chapter
    folder.mkdir(parents=True, exist_ok=True)
    spec = chart.to_json()
    svg = vlc.vegalite_to_svg(spec)
    paths = SavedFigure(svg=folder / f"{name}.svg", png=folder / f"{name}.png", **{"vl.json": folder / f"{name}.vl.json"})
    _write_atomic(paths["vl.json"], spec.encode())
    _write_atomic(paths["svg"], svg.encode())
    _write_atomic(paths["png"], vlc.vegalite_to_png(spec, scale=2))
    if show:
        from IPython.display import SVG, display

        display(SVG(svg))
    return paths


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
