"""Command line: ``sticky run CHAPTER -p name value …``, ``sticky sweep``, ``sticky build``, ``sticky html``,
``sticky list``, ``sticky screenshots``.

``sticky run`` is papermill on the chapter's MyST source, with the parameters checked first, so a typo
fails in a second with one line instead of after the kernel has started.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from sticky import book, chapters
from sticky.params import PROFILES, parse_cli_value

WITH_PARAMETERS = ("run", "build", "sweep")


def _take_parameters(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """``-p NAME VALUE`` pairs taken out of ``argv`` before argparse sees it: argparse reads a value that starts
    with "-" (``-p scale_factors -2,0,2``, the context chapter's own default) as an option and refuses it."""
    rest, pairs, i = [], [], 0
    while i < len(argv):
        if argv[i] == "-p":
            if len(argv) - i < 3:
                raise ValueError("-p needs a name and a value; allowed: -p NAME VALUE")
            pairs.append([argv[i + 1], argv[i + 2]])
            i += 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, pairs


def _params(pairs: list[list[str]] | None) -> dict:
    """The parameters as papermill reads them; a name given twice is an error, not 'the last one wins'."""
    out: dict = {}
    for name, value in pairs or []:
        if name in out:
            raise ValueError(f"parameter {name!r} given twice; allowed: each parameter once")
        out[name] = parse_cli_value(value)
    return out


def cmd_run(args: argparse.Namespace) -> None:
    chapter = chapters.find(args.chapter)
    out = chapters.execute(chapter, _params(args.p), Path(args.output) if args.output else None)
    print(out)


def cmd_list(args: argparse.Namespace) -> None:
    if args.profile not in PROFILES:
        raise ValueError(f"profile {args.profile!r}; allowed: {', '.join(PROFILES)}")
    for ch in [chapters.find(args.chapter)] if args.chapter else chapters.all_chapters():
        print(f"{ch.name:12s} {ch.source.relative_to(chapters.ROOT)}")
        rows = ch.parameters.describe(args.profile)
        name = max((len(r["name"]) for r in rows), default=0)  # columns as wide as this chapter's longest entry
        value = max((len(repr(r["default"])) for r in rows), default=0)
        for row in rows:
            print(f"    {row['name']:{name}s} = {row['default']!r:{value}}  {row['meaning']} ({row['allowed']})")


def cmd_build(args: argparse.Namespace) -> None:
    params = _params(args.p)
    params.setdefault("profile", args.profile)
    if args.only is not None and not args.only:
        raise ValueError("--only names no chapter; allowed: one or more chapter names, or no --only for all")
    todo = chapters.all_chapters() if args.only is None else [chapters.find(n) for n in args.only]
    unknown = sorted(set(params).difference(*[c.parameters for c in todo]))
    if unknown:
        known = sorted(set().union(*[c.parameters for c in todo]))
        raise ValueError(f"unknown parameter {unknown[0]!r}: no chapter has it; allowed: {', '.join(known)}")
    plan = [(ch, {k: v for k, v in params.items() if k in ch.parameters}) for ch in todo]
    for ch, own in plan:  # all bad input fails before the first chapter runs
        ch.validate(own)
    for ch, own in plan:
        print(f"executing {ch.stem} with {own}", flush=True)
        chapters.execute(ch, own, book=True)
    print(book.build_html())


def cmd_sweep(args: argparse.Namespace) -> int:
    from sticky import sweep

    grid = sweep.parse_grid(args.grid)
    merged, errors = sweep.sweep(args.chapter, grid, _params(args.p), args.address, args.cpus_per_point)
    if not merged.empty:
        print(merged.to_string(index=False))
    for point, error in errors.items():
        print(f"sticky: point {point} failed: {error}", file=sys.stderr)
    return 1 if errors else 0


def cmd_html(args: argparse.Namespace) -> None:
    print(book.build_html())


def cmd_screenshots(args: argparse.Namespace) -> None:
    for png in book.screenshots(chapters.BUILD / "html", chapters.BUILD / "screenshots"):
        print(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sticky", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("chapter", help="name (priming), number (01) or stem (01_priming)")
    run.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a parameter")
    run.add_argument("-o", "--output", help="executed notebook, its figures beside it in figures/ (default: "
                     "_build/runs/<chapter>-<hash of the parameters>/NN_name.ipynb; the book is never written)")
    run.set_defaults(func=cmd_run)

    build = sub.add_parser("build", help="execute every chapter, then build the HTML book")
    build.add_argument("--profile", default="book", help="smoke | book | paper")
    build.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="set a parameter")
    build.add_argument("--only", nargs="*", help="execute only these chapters (the rest must exist)")
    build.set_defaults(func=cmd_build)

    sw = sub.add_parser("sweep", help="a parameter grid of one chapter, as Ray tasks")
    sw.add_argument("chapter", help="name (priming), number (01) or stem (01_priming)")
    sw.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2",
                    help="values to sweep; a list-valued parameter as NAME=[V1,V2];[V3]")
    sw.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="fixed parameter")
    sw.add_argument("--address", help="Ray cluster address (default: a local Ray runtime)")
    sw.add_argument("--cpus-per-point", type=int, help="CPUs each point reserves (default: all local ones)")
    sw.set_defaults(func=cmd_sweep)

    html = sub.add_parser("html", help="build the HTML from the executed chapters (no execution)")
    html.set_defaults(func=cmd_html)

    shots = sub.add_parser("screenshots", help="one PNG per built page, from headless Chromium")
    shots.set_defaults(func=cmd_screenshots)

    ls = sub.add_parser("list", help="chapters and their parameters")
    ls.add_argument("chapter", nargs="?", help="only this chapter: name, number or stem")
    ls.add_argument("--profile", default="book")
    ls.set_defaults(func=cmd_list)

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        pairs = []
        if argv and argv[0] in WITH_PARAMETERS:
            argv, pairs = _take_parameters(argv)
        args = parser.parse_args(argv)
        if pairs:
            args.p = pairs
        status = args.func(args)
    except ValueError as err:
        print(f"sticky: error: {err}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"sticky: error: {' '.join(err.cmd[:2])} failed with exit code {err.returncode}", file=sys.stderr)
        return 1
    except Exception as err:  # papermill's execution error carries the cell's exception
        name = type(err).__name__
        if name == "PapermillExecutionError":
            print(f"sticky: error: {err.ename}: {err.evalue}", file=sys.stderr)
            return 1
        raise
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
