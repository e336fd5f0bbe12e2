"""``--executor`` and ``--workers``: where a run's tasks go, and where its latency is timed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torchslim.errors import ConfigError
from torchslim.executors.exclusive import Exclusive, on_the_driver
from torchslim.executors.jobs import Job, Work
from torchslim.executors.local import InProcessBackend, ProcessPoolBackend
from torchslim.executors.resources import auto_workers, machine_cores

EXECUTORS = ("local", "ray")


@dataclass
class ExecutorChoice:
    """``--executor`` and ``--workers``: where the tasks run."""

    kind: str = "local"  # local | ray
    workers: int | str = 1  # a count, or "auto"
    address: str | None = None  # the Ray cluster (None: a private one on this machine)

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor '{self.kind}'; choose one of: {', '.join(EXECUTORS)}")
        if self.workers != "auto" and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"--workers must be a whole number of at least 1, or auto (got '{self.workers}')")


def backend_for(
    choice: ExecutorChoice, work: Work, jobs: list[Job], homes: list[Path], widest: int, data_bytes: Callable[[], int]
):
    """In this process for one worker, a pinned process pool for several, Ray for a cluster.
    ``widest``: the most jobs that can run at once; ``data_bytes``: what each worker would decode."""
    if choice.kind == "ray":
        from torchslim.executors.ray_cluster import RayBackend

        backend = RayBackend(work, homes, choice.address)
        try:
            backend.check_gpus(max((j.resources.gpus for j in jobs), default=0))
        except ConfigError:
            backend.close()
            raise
        return backend, "ray"
    threads = max((j.resources.cpus for j in jobs), default=1)
    n, note = worker_count(choice, threads, widest, data_bytes)
    if n == 1:
        return InProcessBackend(work), f"1 worker, in this process{note}"
    return ProcessPoolBackend(work, n, threads), f"{n} workers x {threads} thread(s), pinned{note}"


def worker_count(
    choice: ExecutorChoice, threads: int, widest: int, data_bytes: Callable[[], int], cores: int | None = None
) -> tuple[int, str]:
    """The local workers to start, and a note when ``--workers N`` asked for more than can work: no
    more than the tasks that can run at once, nor than the cores hold at ``threads`` each (more
    would only share cores; ``--workers 99999`` once started 99999 processes)."""
    if choice.workers == "auto":
        return auto_workers(threads, widest, data_bytes()), ""
    cores = cores or machine_cores()
    cap = max(1, min(max(widest, 1), cores // max(threads, 1)))
    if choice.workers <= cap:
        return choice.workers, ""
    return cap, (
        f"; --workers {choice.workers} capped at {cap}: {widest} task(s) can run at once, "
        f"{cores} core(s) at {threads} thread(s) each"
    )


def exclusive_for(choice: ExecutorChoice) -> Exclusive:
    """Where the timing phase runs: the driver, or a whole node of the Ray cluster."""
    if choice.kind == "ray":
        from torchslim.executors.ray_cluster import on_a_whole_node

        return on_a_whole_node(choice.address)
    return on_the_driver
