"""Auto threads and workers: decided by the task and the machine, never by the executor."""

import pytest

from torchslim.executors.choice import ExecutorChoice, backend_for, worker_count
from torchslim.executors.local import core_slots
from torchslim.executors.resources import SMALL_TASK_MACS, WORKER_OVERHEAD_BYTES, auto_workers, task_threads


@pytest.mark.parametrize(
    ("configured", "macs", "expected"),
    [(None, 2e6, 1), (None, SMALL_TASK_MACS * 2, 8), (3, 2e6, 3), (3, SMALL_TASK_MACS * 2, 3)],
)
def test_task_threads(configured, macs, expected):
    assert task_threads(configured, macs, cores=8) == expected


@pytest.mark.parametrize(
    ("threads", "widest", "memory", "expected"),
    [
        (1, 40, 2**40, 2),  # cores bound: 2 cores, one thread each
        (2, 40, 2**40, 1),  # a task that takes both cores runs alone
        (1, 1, 2**40, 1),  # one task at a time can run
        (1, 40, (WORKER_OVERHEAD_BYTES + 2**30) * 1.3, 1),  # memory holds one copy of the data
    ],
)
def test_auto_workers(threads, widest, memory, expected):
    assert auto_workers(threads, widest, data_bytes=2**30, cores=2, memory=int(memory)) == expected


def test_core_slots_are_disjoint_shares():
    assert core_slots(2, 2, cores=[0, 1, 2, 3]) == [(0, 1), (2, 3)]
    assert core_slots(3, 1, cores=[4, 5, 6]) == [(4,), (5,), (6,)]


@pytest.mark.parametrize(
    "asked, threads, widest, cores, expected",
    [(5, 1, 2, 2, 2), (99999, 1, 40, 2, 2), (99999, 2, 40, 2, 1), (2, 1, 8, 16, 2), (3, 4, 8, 16, 3)],
)
def test_workers_are_capped_at_the_tasks_and_the_cores(asked, threads, widest, cores, expected):
    """Issue 35, defect 10: --workers 99999 started 99999 processes; 5 on 2 cores with 2 tasks started 5."""
    n, note = worker_count(ExecutorChoice(workers=asked), threads, widest, lambda: 0, cores=cores)
    assert n == expected
    assert (note == "") == (asked == expected)
    if note:
        assert note == (
            f"; --workers {asked} capped at {expected}: {widest} task(s) can run at once, "
            f"{cores} core(s) at {threads} thread(s) each"
        )


def test_a_capped_single_worker_starts_no_process():
    backend, how = backend_for(ExecutorChoice(workers=99999), lambda o: None, [], [], 1, lambda: 0)
    assert type(backend).__name__ == "InProcessBackend" and "--workers 99999 capped at 1" in how
