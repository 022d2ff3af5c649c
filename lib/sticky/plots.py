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
    """Where this run writes its figures and scorecard rows (``chapters.execute`` sets it for the kernel)."""
    return Path(os.environ.get("STICKY_FIGURES", "figures"))


def book_figures_root() -> Path:
    """Where the book's figures and scorecard rows are: in a run of the book, ``figures_root``; in a reader's own
    run, the book's folder still (the scorecard chapter reads the book's rows, not the run's)."""
    return Path(os.environ.get("STICKY_BOOK_FIGURES") or figures_root())


class SavedFigure(dict):
    """The paths of a saved figure by format. Displays as nothing, so a cell ending in ``plots.save(...)``
    shows the figure once and no dictionary of paths under it."""

    def _ipython_display_(self) -> None:
        pass


def save(chart: alt.TopLevelMixin, chapter: str, name: str, *, show: bool = True) -> SavedFigure:
    """Write ``figures/<chapter>/<name>.{svg,png,vl.json,html}`` (the HTML: the interactive chart, Vega-Lite's
    JavaScript bundled in by vl-convert, so it opens offline); display the SVG; return the paths."""
    folder = figures_root() / chapter
    folder.mkdir(parents=True, exist_ok=True)
    spec = chart.to_json()
    svg = vlc.vegalite_to_svg(spec)
    paths = SavedFigure(svg=folder / f"{name}.svg", png=folder / f"{name}.png", html=folder / f"{name}.html",
                        **{"vl.json": folder / f"{name}.vl.json"})
    _write_atomic(paths["vl.json"], spec.encode())
    _write_atomic(paths["html"], vlc.vegalite_to_html(spec, bundle=True).encode())
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


def figure(chart: alt.TopLevelMixin, chapter: str, name: str) -> SavedFigure:
    """Save like ``save`` and glue the SVG as ``fig-<chapter>-<name>``, for a numbered, captioned
    ``{glue:figure}`` in the chapter that the prose cites with ``{numref}``. The PNG is shown as the cell's
    output, so an executed notebook shows its figures in any viewer (JupyterLab, VS Code, GitHub, nbviewer); the
    book drops PNG outputs (``nb_mime_priority_overrides`` in ``_config.yml``) and shows the numbered SVG."""
    paths = save(chart, chapter, name, show=False)
    from IPython.display import SVG, Image, display

    display(Image(data=paths["png"].read_bytes()))
    _glue(chapter, name, SVG(paths["svg"].read_text()))
    return paths


def absent(chapter: str, name: str, why: str) -> None:
    """Glue a one-line note in place of a figure this run did not make (e.g. no real model at smoke), so the
    chapter's ``{glue:figure}`` still resolves and says why."""
    _glue(chapter, name, why)


def _glue(chapter: str, name: str, content) -> None:
    from myst_nb import glue

    glue(f"fig-{chapter}-{name}", content, display=False)

