"""Build the HTML book from executed notebooks, prove it needs no network and shows no raw markup, and
photograph its pages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sticky import chapters

BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib")
# Elements whose address the browser fetches on its own while loading a page.
FETCHED = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "embed": "src"}
REMOTE_FILE = re.compile(r"""(?:https?:)?//[^\s"'`]+\.(?:js|css|mjs)\b""")
# What a page must not show a reader: MyST roles that were not rendered, markdown emphasis printed as
# asterisks (a glued text is not parsed as markdown), and progress bars caught in a cell's output.
RAW_MARKUP = re.compile(r"\{(?:glue|numref|cite|ref|eq)[:}`]|\*\*[^*\n]{1,80}\*\*"
                        r"|(?<![\w*\\])\*[A-Za-z][^*\n]{0,60}\*(?![\w*])")
PROGRESS_DEBRIS = re.compile(r"de-quantizing|\d+%\|[^\n]*\||\d it/s\]|\d s/it\]")
SCREENSHOT_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def build_html(strict: bool = True) -> Path:
    """Build ``_build/html`` from the executed notebooks in ``_build/book``; Jupyter Book executes nothing."""
    staging = chapters.EXECUTED
    missing = [c.stem for c in chapters.all_chapters() if not c.executed.exists()]
    if missing:
        raise ValueError(f"chapters not executed yet: {', '.join(missing)}; allowed: run `sticky build` first")
    for name in BOOK_FILES:
        if (chapters.ROOT / name).exists():
            shutil.copy2(chapters.ROOT / name, staging / name)
    _point_buttons_at_repository(staging / "_config.yml", os.environ.get("BOOK_REPOSITORY_URL"))
    shutil.copytree(chapters.ROOT / "_static", staging / "_static", dirs_exist_ok=True)  # the book's CSS
    for page in chapters.CHAPTERS.glob("[!0-9]*.md"):  # plain pages such as the bibliography
        shutil.copy2(page, staging / "chapters" / page.name)
    _copy_mathjax(staging / "_static" / "mathjax")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(staging), "--path-output", str(chapters.BUILD.parent), "--all", "--quiet"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]  # any warning fails the build
    subprocess.run(cmd, check=True)
    html = chapters.BUILD / "html"
    from sticky import plots

    link_interactive_figures(html, chapters.ROOT / plots.book_figures_root())
    remote = offline_violations(html)
    if remote:
        raise ValueError(f"built pages fetch {len(remote)} remote resources, e.g. {remote[0]}; allowed: none")
    shown = page_violations(html)
    if strict and shown:
        raise ValueError(f"{len(shown)} places on the built pages show what a reader should not see, e.g. "
                         f"{'; '.join(shown[:3])}; allowed: rendered prose and outputs")
    return html / "index.html"


def link_interactive_figures(html: Path, figures: Path) -> int:
    """Under each numbered figure of the built chapters whose interactive copy exists (``plots.save``'s
    ``figures/<chapter>/<name>.html``), a link to that copy, put in ``_static/interactive/``. Returns how many."""
    from bs4 import BeautifulSoup

    linked = 0
    for page in sorted(html.glob("chapters/*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        changed = False
        for fig in soup.find_all("figure", id=re.compile(r"^fig-")):
            chapter, _, name = fig["id"][len("fig-"):].partition("-")
            source = figures / chapter / f"{name}.html"
            caption = fig.find("figcaption")
            if not source.exists() or caption is None:
                continue  # a figure this run did not make (plots.absent) has no interactive copy
            target = html / "_static" / "interactive" / chapter / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            link = soup.new_tag("a", href=f"../_static/interactive/{chapter}/{source.name}",
                                attrs={"class": "interactive"})
            link.string = "Interactive version"
            caption.append(" ")
            caption.append(link)
            changed = True
            linked += 1
        if changed:
            page.write_text(str(soup), encoding="utf-8")
    return linked


def _point_buttons_at_repository(config: Path, url: str | None) -> None:
    """Turn on the repository and issue buttons when the build knows where the repository lives (the
    publishing workflow sets ``BOOK_REPOSITORY_URL``); they are plain links, no request at page load."""
    if not url:
        return
    import yaml

    data = yaml.safe_load(config.read_text())
    data["repository"] = {"url": url, "branch": "main", "path_to_book": "."}
    data.setdefault("html", {}).update(use_repository_button=True, use_issues_button=True)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _copy_mathjax(folder: Path) -> None:
    """A local MathJax, so pages with maths render without a CDN."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")  # the django-static-mathjax distribution
    source = Path(spec.origin).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, folder / "tex-svg.js")


def offline_violations(html: Path) -> list[str]:
    """Every ``page: <tag> address`` in the built book that a browser would fetch from the network."""
    from bs4 import BeautifulSoup

    found = []
    for page in sorted(html.rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for script in soup.find_all("script", src=False):  # inline code that would load a remote file
            for address in REMOTE_FILE.findall(script.string or ""):
                found.append(f"{page.relative_to(html)}: <script> body loads {address}")
        for tag, attr in FETCHED.items():
            for el in soup.find_all(tag):
                address = el.get(attr) or ""
                if tag == "link" and "stylesheet" not in el.get("rel", []) and "preload" not in el.get("rel", []):
                    continue  # <link rel="canonical|next|prev"> is navigation, not a fetch
                if address.startswith(("http://", "https://", "//")):
                    found.append(f"{page.relative_to(html)}: <{tag}> {address}")
    return found


def page_violations(html: Path) -> list[str]:
    """Every ``page: kind 'text'`` a reader would see on a chapter page and should not: raw markup in the prose
    (``RAW_MARKUP``; code cells, outputs, tables and maths are not prose) or progress-bar debris in a cell's
    output (``PROGRESS_DEBRIS``)."""
    from bs4 import BeautifulSoup

    found = []
    for page in sorted(html.glob("chapters/*.html")):
        main = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("main")
        if main is None:
            continue
        for tag in main.find_all(["script", "style"]):
            tag.decompose()
        for output in main.select("div.cell_output"):
            text = output.get_text(" ")
            if m := PROGRESS_DEBRIS.search(text):  # one per output: a bar's lines all match
                found.append(f"{page.name}: progress bar {text[m.start():m.end() + 30]!r}")
        for tag in main.select("div.cell_input, div.cell_output, pre, table, div.math, span.math, mjx-container"):
            tag.decompose()
        text = " ".join(main.get_text(" ").split())
        found += [f"{page.name}: raw markup {text[max(0, m.start() - 30):m.end() + 20]!r}"
                  for m in RAW_MARKUP.finditer(text)]
    return found


def screenshots(html: Path, out: Path, width: int = 1280, height: int = 2400) -> list[Path]:
    """One PNG per built page, by headless Chromium straight from the files (no server)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise ValueError("no chromium on PATH; allowed: install Debian's chromium (make screenshots does)")
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    for page in sorted(html.glob("**/*.html")):
        if page.name in ("search.html", "genindex.html") or "_static" in page.parts:
            continue
        png = out / (str(page.relative_to(html).with_suffix("")).replace("/", "__") + ".png")
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [browser, *SCREENSHOT_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                 f"--screenshot={png}", page.resolve().as_uri()],
                check=True, capture_output=True, timeout=120,
            )
        shots.append(png)
    return shots
