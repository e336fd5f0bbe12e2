"""The one scheduling loop: start each job once the jobs it needs are done, collect outcomes, stop
starting new jobs after a failure (those in flight finish and are kept), then raise that failure."""

from __future__ import annotations

from typing import Callable, Hashable, Protocol

from torchslim.executors.jobs import Job, Order, Outcome


class Backend(Protocol):
    def can_take(self, job: Job) -> bool: ...
    def submit(self, order: Order) -> None: ...
    def poll(self, timeout: float) -> list[Outcome]: ...
    def in_flight(self) -> dict[Hashable, str]: ...  # job key -> where it runs
    def close(self) -> None: ...


def ready_jobs(pending: dict[Hashable, Job], done: set[Hashable], keys: set[Hashable]) -> list[Job]:
    """Jobs whose needs have all finished (a need outside the graph was finished before it: stored)."""
    return [j for j in pending.values() if all(n in done or n not in keys for n in j.needs)]


def drive(
    jobs: list[Job],
    backend: Backend,
    prepare: Callable[[Job], Job] = lambda j: j,
    on_start: Callable[[Order], None] = lambda o: None,
    on_finish: Callable[[Outcome], None] = lambda o: None,
    idle: Callable[[], None] = lambda: None,
    expected: tuple[type[BaseException], ...] = (),
) -> None:
    """Run ``jobs`` on ``backend``; ``prepare`` completes a job as it starts (with what the jobs it
    needed produced); ``on_finish`` sees every outcome (the driver stores it there).

    A job needing one that failed never starts; the first failure is raised once nothing is in flight.
    An error of an ``expected`` type (a search trial stopped below its budget) is an outcome like a
    result: it goes to ``on_finish`` and the other jobs go on.
    """
    keys = {j.key for j in jobs}
    if len(keys) != len(jobs):
        raise ValueError("a job is listed twice in the task graph")
    pending = {j.key: j for j in jobs}
    done: set[Hashable] = set()
    failure: Outcome | None = None
    while pending or backend.in_flight():
        if failure is None:
            for job in ready_jobs(pending, done, keys):
                if not backend.can_take(job):
                    break
                del pending[job.key]
                order = Order(prepare(job))
                backend.submit(order)
                on_start(order)
        elif not backend.in_flight():
            break
        if not backend.in_flight() and pending and failure is None:
            raise RuntimeError(f"{len(pending)} job(s) can never start: their needs are not in the graph")
        for outcome in backend.poll(0.5):
            on_finish(outcome)
            if outcome.error is None:
                done.add(outcome.key)
            elif failure is None and not isinstance(outcome.error, expected):
                failure = outcome
        idle()
    if failure is not None:
        raise failure.error
