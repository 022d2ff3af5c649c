"""``sticky.parallel.pinned_map``: the results of the jobs in their order, each worker pinned to one CPU with one
torch thread; with one usable CPU, the jobs run in this process."""

import os

import pytest

from sticky import parallel


def where(i: int) -> tuple:
    import torch

    return i, sorted(os.sched_getaffinity(0)), torch.get_num_threads(), os.getpid()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="pinning needs Linux")
def test_pinned_map_pins_each_worker_to_one_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    out = parallel.pinned_map(where, [(i,) for i in range(4)])
    assert [i for i, *_ in out] == [0, 1, 2, 3]
    if len(cpus) == 1:  # the jobs ran here
        assert {pid for *_, pid in out} == {os.getpid()}
    else:
        assert all(len(mask) == 1 and mask[0] in cpus and threads == 1 for _, mask, threads, _ in out)
        assert os.getpid() not in {pid for *_, pid in out}
    # one worker asked for: here, in order
    assert [pid for *_, pid in parallel.pinned_map(where, [(0,), (1,)], workers=1)] == [os.getpid()] * 2
