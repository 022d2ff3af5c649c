"""Progress bars on the terminal, never in a notebook.

A chapter runs in a kernel whose output is the executed notebook, so a bar drawn on its stderr would be kept in
the page. The bar goes to this process's terminal when it has one, else to the terminal of the ``sticky`` command
that runs the chapter (``STICKY_TERMINAL``, set by ``chapters.execute``), else nowhere. ``STICKY_PROGRESS=0`` turns
bars off. A bar shows only once its work has run for ``DELAY`` seconds: short probes draw nothing.
"""

from __future__ import annotations

import functools
import os
import sys

DELAY = 5.0  # seconds before a bar appears


def bar(total: int, desc: str, initial: int = 0, disable: bool = False):
    """A tqdm bar (``update``, ``set_postfix``, ``close``; a context manager) on the terminal, or a disabled one
    (``disable``: the caller's own choice, e.g. a loop whose caller already draws the bar)."""
    from tqdm.std import tqdm

    stream = sys.stderr if sys.stderr.isatty() else _terminal(os.environ.get("STICKY_TERMINAL", ""))
    disable = disable or os.environ.get("STICKY_PROGRESS", "1") == "0" or stream is None
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, leave=False, file=stream, delay=DELAY)


@functools.cache
def _terminal(path: str):
    """The terminal at ``path``, opened once for the process (every bar of a chapter shares it), or None."""
    try:
        return open(path, "w", buffering=1) if path else None  # noqa: SIM115 (open for the process's life)
    except OSError:
        return None
