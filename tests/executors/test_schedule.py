"""The one scheduling loop: needs are respected, a failure stops new starts and is raised."""

import pytest

from torchslim.executors import Job, Order, drive
from torchslim.executors.local import InProcessBackend, ProcessPoolBackend


def record(order: Order):
    if order.job.payload == "boom":
        raise ValueError("boom")
    return order.job.key


def graph():
    return [
        Job("chain-a", "a", "chain a", needs=("base",)),
        Job("base", "b", "base"),
        Job("chain-b", "c", "chain b", needs=("base",)),
        Job("other", "d", "other", needs=("stored-earlier",)),  # a need outside the graph is already done
    ]


@pytest.mark.parametrize("backend", ["in-process", "pool"])
def test_a_job_starts_only_after_the_jobs_it_needs(backend):
    started, finished = [], []
    b = InProcessBackend(record) if backend == "in-process" else ProcessPoolBackend(record, workers=2, cpus=1)
    try:
        drive(graph(), b, on_start=lambda o: started.append(o.job.key), on_finish=lambda o: finished.append(o))
    finally:
        b.close()
    assert started.index("base") < started.index("chain-a") and started.index("base") < started.index("chain-b")
    assert sorted(o.value for o in finished) == ["base", "chain-a", "chain-b", "other"]
    assert all(o.error is None and o.attempts == 1 for o in finished)


def test_a_failure_stops_new_starts_and_is_raised():
    jobs = [Job("base", "boom", "base"), Job("chain", "x", "chain", needs=("base",)), Job("free", "y", "free")]
    finished = []
    with pytest.raises(ValueError, match="boom"):
        drive(jobs, InProcessBackend(record), on_finish=finished.append)
    assert "chain" not in [o.key for o in finished]  # never started: its baseline failed
    assert [o.key for o in finished if o.error is not None] == ["base"]


def test_a_job_listed_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        drive([Job("a", 1, "a"), Job("a", 2, "a")], InProcessBackend(record))


@pytest.mark.parametrize("backend", ["in-process", "pool"])
def test_an_expected_error_is_an_outcome_and_the_others_go_on(backend):
    jobs = [Job("stopped", "boom", "stopped"), Job("next", "x", "next"), Job("last", "y", "last")]
    finished = []
    b = InProcessBackend(record) if backend == "in-process" else ProcessPoolBackend(record, workers=2, cpus=1)
    try:
        drive(jobs, b, on_finish=finished.append, expected=(ValueError,))  # a search's trial below budget
    finally:
        b.close()
    assert sorted(o.key for o in finished if o.error is None) == ["last", "next"]
    assert [type(o.error).__name__ for o in finished if o.error is not None] == ["ValueError"]
