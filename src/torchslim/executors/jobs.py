"""The units an executor moves: a job (what to run, what it needs first), an order (one attempt of
a job, as sent to a worker) and an outcome (what came back)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable

from torchslim.errors import TorchslimError


@dataclass(frozen=True)
class Resources:
    """What one job holds while it runs: CPU cores (its intra-op threads) and GPUs."""

    cpus: int = 1
    gpus: int = 0


@dataclass
class Job:
    key: Hashable
    payload: Any  # what the work function receives (picklable)
    label: str
    needs: tuple[Hashable, ...] = ()  # keys of jobs that must finish first
    resources: Resources = field(default_factory=Resources)
    inputs: tuple[Path, ...] = ()  # driver files the job reads (sent along where there is no shared filesystem)
    home: Path | None = None  # the driver folder the job writes into (nothing is written back elsewhere)


@dataclass
class Order:
    """One attempt of a job. ``cores`` are the CPU cores its worker is pinned to (None: not pinned).

    On a machine without the driver's filesystem (a Ray node) the job works in ``scratch``: every
    driver path ``P`` is ``scratch/P`` there (:meth:`local`); the files it was sent are placed so,
    and what it writes there is sent back to the same driver paths. Locally ``local`` is the identity.
    """

    job: Job
    attempt: int = 0
    cores: tuple[int, ...] | None = None
    where: str = "driver"
    scratch: str | None = None
    fetch: Callable[[Path], None] | None = field(default=None, repr=False, compare=False)

    def local(self, path: Path) -> Path:
        """Where the driver's ``path`` is for this attempt."""
        path = Path(path)
        return path if self.scratch is None else Path(self.scratch) / path.resolve().relative_to("/")

    def restore(self, folder: Path) -> None:
        """Bring back the driver's copy of ``folder`` (checkpoints of an earlier attempt); locally it is there."""
        if self.fetch is not None:
            self.fetch(Path(folder))


@dataclass
class Outcome:
    key: Hashable
    value: Any = None  # the work function's result
    error: BaseException | None = None
    where: str = "driver"
    attempts: int = 1


class WorkerDied(TorchslimError):
    """A worker process (or Ray node) vanished mid-job more often than the retry limit allows."""


Work = Callable[[Order], Any]
