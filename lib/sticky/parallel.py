"""Independent cached builds on every CPU this process may use: one process per CPU, pinned to it, one thread.

Two torch processes that share the cores unpinned slow each other 10-60x (their OpenMP threads spin); pinned to
one core each with one thread they add up. With one usable CPU (``taskset -c 0``, or a single-core machine) the
jobs run here, one after another. The results must not depend on the order: use it for cached builds
(``Store.cached`` lets one process build an entry while another waits for it).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor


def cpus() -> list[int]:
    """The CPUs this process may run on (``taskset`` narrows them); without affinity (not Linux), all of them."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def _pin(queue) -> None:
    os.sched_setaffinity(0, {queue.get()})
    import torch

    torch.set_num_threads(1)


def _call(task):
    fn, args = task
    return fn(*args)


def pinned_map(fn: Callable, jobs: Sequence[tuple], workers: int | None = None) -> list:
    """``[fn(*job) for job in jobs]``, in up to ``workers`` (default: one per usable CPU) spawned processes, each
    pinned to its own CPU with one torch thread. ``fn`` and the jobs must be picklable (a module-level function
    and plain values)."""
    usable = cpus()
    n = min(workers or len(usable), len(usable), len(jobs))
    if n <= 1 or not hasattr(os, "sched_setaffinity"):  # one CPU, or no way to pin: here, in order
        return [fn(*job) for job in jobs]
    context = multiprocessing.get_context("spawn")  # fork would copy this process's torch threads
    queue = context.Queue()
    for cpu in usable[:n]:
        queue.put(cpu)
    with ProcessPoolExecutor(n, mp_context=context, initializer=_pin, initargs=(queue,)) as pool:
        return list(pool.map(_call, [(fn, tuple(job)) for job in jobs]))
