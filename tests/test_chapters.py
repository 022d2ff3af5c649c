"""Every chapter runs through papermill at the smoke profile; the CLI rejects bad input before any work;
the book builds from the executed notebooks with no remote script or stylesheet."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from sticky import book, chapters

CHAPTERS = chapters.all_chapters()
STICKY = str(Path(sys.executable).with_name("sticky"))
PAPERMILL = str(Path(sys.executable).with_name("papermill"))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_chapter_smoke_run(executed, chapter):
    nb = nbformat.read(executed[chapter.name], as_version=4)
    assert nb.metadata["sticky"]["parameters"] == {"profile": "smoke"}
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t for t in tags) == 1, "exactly one parameters cell"
    injected = [t for t in tags if "injected-parameters" in t]
    assert injected and all("remove-cell" in t for t in injected), "papermill's cell is hidden in the book"
    for cell in nb.cells:  # each glued figure is also a PNG output: visible in any notebook viewer
        outputs = [o.get("data", {}) for o in cell.get("outputs", [])]
        glued = sum("application/papermill.record/image/svg+xml" in d for d in outputs)
        assert sum("image/png" in d for d in outputs) >= glued, "a figure without a PNG for notebook viewers"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_help_notebook_lists_every_parameter(chapter, tmp_path):
    notebook = tmp_path / f"{chapter.stem}.ipynb"
    nbformat.write(jupytext.read(chapter.source), notebook)
    text = subprocess.run([PAPERMILL, "--help-notebook", str(notebook)], capture_output=True, text=True,
                          check=True).stdout
    listed = dict(re.findall(r"^  (\w+): (\w+) \(default", text, flags=re.M))
    assert set(listed) == set(chapter.parameters), "the parameters cell and the Spec must name the same parameters"
    assert listed == {n: p.kind.__name__ for n, p in chapter.parameters.items()}, "each typed as its Spec says"
    cell = re.search(r":tags: \[parameters\]\n\n(.*?)\n```", chapter.source.read_text(), flags=re.S).group(1)
    for line in cell.splitlines():  # a None names what it becomes, at each profile where that differs
        name = line.split(":")[0]
        if " = None  #" in line and not chapter.parameters[name].nullable:
            assert "(None: " in line, f"{name}: the help of a None says what the profile sets"


@pytest.mark.parametrize(
    "args, words",
    [
        (["-p", "no_such_param", "1"], ["'no_such_param'", "allowed: profile"]),
        (["-p", "profile", "huge"], ["'profile'", "smoke, book, paper"]),
    ],
)
def test_cli_bad_input_fails_at_once_in_one_line(args, words, tmp_path):
    """Refused before any work: exit 2, one line, and nothing written (no notebook, no figure, no cache)."""
    env = dict(os.environ, STICKY_BUILD=str(tmp_path / "build"), STICKY_FIGURES=str(tmp_path / "figures"),
               STICKY_CACHE=str(tmp_path / "cache"), STICKY_TIMINGS=str(tmp_path / "timings.json"))
    run = subprocess.run([STICKY, "run", "intro", *args], capture_output=True, text=True, env=env)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), run.stderr
    assert not list(tmp_path.iterdir()), "a refused run wrote files"


def test_cli_unknown_chapter():
    run = subprocess.run([STICKY, "run", "nope"], capture_output=True, text=True)
    assert run.returncode == 2 and "allowed: intro" in run.stderr


@pytest.mark.slow
def test_cli_run_writes_its_own_folder_and_never_the_book(tmp_path):
    env = dict(os.environ, STICKY_BUILD=str(tmp_path), STICKY_FIGURES=str(tmp_path / "book-figures"),
               STICKY_TIMINGS=str(tmp_path / "timings.json"))
    run = subprocess.run([STICKY, "run", "intro", "-p", "profile", "smoke"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "IPKernelApp" not in run.stderr, "no kernel log line (the spurious KeyboardInterrupt ERROR) on a success"
    (out,) = (tmp_path / "_build" / "runs").glob("intro-*/00_intro.ipynb")
    assert Path(run.stdout.strip().splitlines()[-1]) == out
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata["sticky"]["parameters"] == {"profile": "smoke"} and nb.metadata["sticky"]["book"] is False
    assert list((out.parent / "figures" / "intro").glob("*.svg")), "the run's figures are in its own folder"
    assert not (tmp_path / "book-figures").exists() and not (tmp_path / "_build" / "book").exists()
    assert not (tmp_path / "timings.json").exists(), "a reader's run does not rewrite the book's run times"
    assert not list(out.parent.glob(".*")), "no temporary notebook is left behind"
    # the re-run box, drawn again after the run, reports the run that made this page and its parameters
    (box,) = [c.outputs[0].data["text/markdown"] for c in nb.cells if "rerun_box(" in c.source]
    seconds = nb.metadata["sticky"]["seconds"]
    assert f"This page was made by a run of {chapters._duration(seconds)}" in box
    assert "with `-p profile smoke`." in box


@pytest.mark.slow
def test_book_builds_offline(executed):
    index = book.build_html()
    assert index.exists()
    html = index.parent
    pages = {p.name for p in html.glob("chapters/*.html")}
    assert pages == {f"{c.stem}.html" for c in CHAPTERS} | {"references.html"}
    assert book.offline_violations(html) == []
    assert book.page_violations(html) == []  # (build_html refuses them too)
    # chapter 7 links every claim to the section that tests it: each anchor is on its page
    from sticky.experiments import scorecard as chapter7

    rows, _ = chapter7.collect()
    links = set(re.findall(r'<a href="(\d\d_\w+\.html)#([\w-]+)">', chapter7.linked_table(rows)))
    assert len(links) >= len(set(zip(rows.chapter, rows.claim_id)))
    broken = [f"{page}#{anchor}" for page, anchor in sorted(links)
              if f'id="{anchor}"' not in (html / "chapters" / page).read_text()]
    assert not broken, f"chapter 7 links to sections that do not exist: {broken}"
    interactive = []
    for page in (html / "chapters").glob("*.html"):  # the PNG outputs are for notebook viewers, not the book
        assert not re.search(r"<img[^>]+\.png", page.read_text()), f"{page.name} shows a figure twice"
        interactive += re.findall(r'class="interactive" href="\.\./(_static/interactive/[\w/.-]+)"', page.read_text())
    assert len(interactive) >= 10 and all((html / link).exists() for link in interactive)  # offline, as checked
    intro = (html / "chapters" / "00_intro.html").read_text()
    assert "sets every size left as None" in intro  # the parameters cell (its comment) is shown
    assert "injected" not in intro.lower()
    assert "Sun <em>et al.</em>, 2025" in intro  # author-year citations

def test_offline_check_catches_remote_script(tmp_path):
    (tmp_path / "page.html").write_text(
        '<html><head><script src="https://cdn.example/vega.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/a.css"><link rel="canonical" href="https://x/y">'
        '<script src="_static/local.js"></script><script>const U = "https://unpkg.com/thebe/lib/index.js"</script>'
        '</head><body><a href="https://arxiv.org">paper</a></body></html>'
    )
    found = book.offline_violations(tmp_path)
    assert len(found) == 3
    assert [("index.js" in f, "vega.js" in f, "a.css" in f) for f in found] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


def test_page_check_finds_raw_markup_in_prose_and_progress_bars_in_outputs(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01_x.html").write_text(
        "<html><body><main>"
        "<p>the rule is **inconclusive** (see {numref}`fig-a`); an *emphasis* left raw; 2 * 3 * 4 is fine</p>"
        "<p>planted: {glue:text} example_doc``</p><p><em>rendered</em> and <strong>bold</strong> are fine</p>"
        '<div class="cell_input"><pre>glue("x", f"**{v}**")  # code may say anything</pre></div>'
        '<div class="cell_output"><pre>Converting and de-quantizing GGUF tensors...: 100%|####| 236/236</pre></div>'
        "<table><tr><td>*a*</td></tr></table></main></body></html>")
    found = book.page_violations(tmp_path)
    assert [f.split(" '")[0] for f in found] == ["01_x.html: progress bar", "01_x.html: raw markup",
                                                 "01_x.html: raw markup", "01_x.html: raw markup",
                                                 "01_x.html: raw markup"], found
    assert ["**inconclusive**" in found[1], "{numref}" in found[2], "*emphasis*" in found[3],
            "{glue:text}" in found[4]] == [True] * 4


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_chapter_cites_and_has_rerun_box_matching_its_parameters(chapter):
    text = chapter.source.read_text()
    assert "{cite}`" in text, "every chapter cites at least one source"
    assert f'rerun_box("{chapter.name}")' in text
    box = chapters.rerun_box(chapter.name)
    assert re.findall(r"^\| `(\w+)` \|", box, flags=re.M) == list(chapter.parameters)
    rows = [row for row in box.splitlines() if row.startswith("| `")]
    assert all(len(re.split(r"(?<!\\)\|", row)) == 6 for row in rows), "every row has its four cells"
    assert f"sticky run {chapter.name}" in box


def test_rerun_box_reports_measured_time(tmp_path, monkeypatch):
    monkeypatch.setattr(chapters, "TIMINGS", tmp_path / "timings.json")
    assert "not measured yet" in chapters.rerun_box("intro")
    chapters._record_timing("intro", "smoke", "built", 12.3, 2)
    chapters._record_timing("intro", "book", "built", 125.0, 2)
    chapters._record_timing("intro", "book", "reused", 9.0, 1)
    box = chapters.rerun_box("intro")
    assert "`smoke` 12 s on" in box
    assert "`book` 2.1 min on" in box and "training and measuring" in box and "9 s on" in box
    assert "2.1 min on 2 CPUs" in box and "9 s on 1 CPU with" in box and "This page" not in box
    assert "This page was made by a run of 2.1 min on 2 CPUs, with no parameters" in chapters.rerun_box(
        "intro", this_run=(125.0, 2, {}))


def test_repository_buttons_only_when_the_repository_is_known(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("title: T\nhtml:\n  use_download_button: true\n")
    book._point_buttons_at_repository(config, None)
    assert "repository" not in config.read_text()
    book._point_buttons_at_repository(config, "https://github.com/o/r")
    import yaml

    data = yaml.safe_load(config.read_text())
    assert data["repository"]["url"] == "https://github.com/o/r"
    assert data["html"] == {"use_download_button": True, "use_repository_button": True, "use_issues_button": True}


def test_publishing_workflow_builds_with_the_readme_command():
    workflow = (chapters.ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "run: make book" in workflow and "upload-pages-artifact" in workflow
    assert "make book" in (chapters.ROOT / "README.md").read_text()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_figure_is_numbered_captioned_and_referenced(chapter):
    text = chapter.source.read_text()
    assert "plots.save(" not in text, "chapters make figures with plots.figure, so they are numbered"
    made = {f"fig-{c}-{n}" for c, n in re.findall(r'plots\.(?:figure\(.*?|absent\()"(\w+)", "(\w+)"', text)}
    blocks = re.findall(r"```\{glue:figure\} (\S+)\n:name: (\S+)\n\n(.+?)\n```", text, flags=re.S)
    assert {key for key, _, _ in blocks} == {f for f in made}, "each figure made is placed in a glue:figure"
    for key, name, caption in blocks:
        assert name == key and len(caption.split()) >= 5, f"{key} needs a caption"
        assert f"{{numref}}`{name}`" in text, f"{name} is never referenced from the prose"


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if hasattr(c.module, "__path__")], ids=lambda c: c.name)
def test_every_name_a_chapter_package_offers_resolves(chapter):
    """The packages import their modules on first use (``lazy_exports``): each offered name must come from the
    module the package names for it."""
    package = chapter.module
    assert package.__all__ == sorted(set(package.__all__)) and {"PARAMETERS", "resolve"} <= set(package.__all__)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert not missing, f"{chapter.name} offers names its modules lack: {missing}"


def test_lazy_exports_refuses_what_would_break_it():
    from sticky.experiments import lazy_exports

    with pytest.raises(TypeError, match="a tuple of names"):
        lazy_exports("p", {"real": ("real_track")})  # a string, not a one-name tuple
    with pytest.raises(ValueError, match="module names too"):
        lazy_exports("p", {"localisation": ("localisation",)})  # importing the module would shadow the function


def test_list_names_one_chapter_and_its_parameters(capsys):
    from sticky import cli

    assert cli.main(["list", "synthesis"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("synthesis ") and len([x for x in lines if not x.startswith(" ")]) == 1
    assert {x.split()[0] for x in lines[1:]} == set(chapters.find("synthesis").parameters)


def test_interactive_copies_are_linked_under_their_figures(tmp_path):
    html, figures = tmp_path / "html", tmp_path / "figures"
    (html / "chapters").mkdir(parents=True)
    (figures / "synthesis").mkdir(parents=True)
    (figures / "synthesis" / "depth.html").write_text("<html>interactive</html>")
    page = html / "chapters" / "06_synthesis.html"
    page.write_text('<main><figure id="fig-synthesis-depth"><img src="a.svg"><figcaption><p>Cap.</p></figcaption>'
                    '</figure><figure id="fig-synthesis-absent"><figcaption><p>Not run.</p></figcaption>'
                    '</figure></main>')
    assert book.link_interactive_figures(html, figures) == 1  # the figure this run did not make has no copy
    text = page.read_text()
    assert text.count('class="interactive"') == 1
    assert '<a class="interactive" href="../_static/interactive/synthesis/depth.html">Interactive version</a>' in text
    assert (html / "_static" / "interactive" / "synthesis" / "depth.html").read_text() == "<html>interactive</html>"
