"""Executors on one machine: in this process (one job at a time), or a pool of worker processes,
each pinned to its own share of the cores, that survives the death of a worker.

Workers are started with ``spawn`` (no inherited locks or CUDA state) and ignore Ctrl-C: the driver
decides what stops. A worker that dies mid-job (SIGKILL, out of memory) is replaced and its job is
sent again, up to ``retries`` times; the job resumes from its own last epoch checkpoint.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Hashable

from torchslim.executors.jobs import Job, Order, Outcome, Work, WorkerDied


class InProcessBackend:
    """Runs each job in the driver's process, one at a time (``--workers 1``)."""

    def __init__(self, work: Work):
        self.work = work
        self.queued: list[Order] = []

    def can_take(self, job: Job) -> bool:
        return not self.queued

    def submit(self, order: Order) -> None:
        self.queued.append(order)

    def in_flight(self) -> dict[Hashable, str]:
        return {o.job.key: o.where for o in self.queued}

    def poll(self, timeout: float) -> list[Outcome]:
        if not self.queued:
            return []
        order = self.queued[0]
        try:
            value, error = self.work(order), None
        except Exception as exc:  # the driver records it and stops starting jobs
            value, error = None, exc
        finally:
            self.queued.clear()
        return [Outcome(order.job.key, value, error, order.where, order.attempt + 1)]

    def close(self) -> None:
        self.queued.clear()


def core_slots(workers: int, cpus: int, cores: list[int] | None = None) -> list[tuple[int, ...]]:
    """The cores of each worker: consecutive, disjoint shares of ``cpus`` cores each (wrapping when
    more cores are asked for than the machine has, which ``auto`` never does)."""
    cores = cores if cores is not None else sorted(os.sched_getaffinity(0))
    return [tuple(cores[(w * cpus + i) % len(cores)] for i in range(cpus)) for w in range(workers)]


def session_processes(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``, read from Linux's /proc: a driver started
    in a session of its own shares it with its workers and resource tracker, so what outlives the
    driver can be counted (tests and ``benchmarks/kill_soak.py``)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _exit_with_parent(driver: int) -> None:
    """A worker whose driver was killed (SIGKILL leaves no chance to stop it) exits too, mid-task or not.
    ``driver`` is the PID the driver passed: read in the worker, ``getppid()`` may already be 1, when
    the driver died while the worker was still importing (about 5 s after a spawn)."""
    while os.getppid() == driver:
        time.sleep(1.0)
    os._exit(3)


def _die_with(driver: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits, then check the parent is still the
    driver (it may have gone before the request was made)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog thread alone
        pass
    if os.getppid() != driver:
        os._exit(3)


def _worker_main(work: Work, inbox, outbox, cores: tuple[int, ...], name: str, driver: int) -> None:
    """A pool worker: pinned to its cores, deaf to Ctrl-C, runs orders until it is sent None."""
    _die_with(driver)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(driver,), daemon=True).start()
    os.environ["TORCHSLIM_NO_PROGRESS"] = "1"  # the driver draws the progress; bars from workers would tear it
    os.environ["TORCHSLIM_WORKER"] = name
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    while (order := inbox.get()) is not None:
        order.cores, order.where = cores, name
        try:
            outbox.put(Outcome(order.job.key, work(order), None, name, order.attempt + 1))
        except Exception as exc:
            outbox.put(Outcome(order.job.key, None, portable(exc), name, order.attempt + 1))


def portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a TorchslimError with its one-line message."""
    import pickle

    from torchslim.errors import TorchslimError

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return TorchslimError(f"{type(exc).__name__}: {exc}")


@dataclass
class _Slot:
    name: str
    cores: tuple[int, ...]
    process: Any = None
    inbox: Any = None
    order: Order | None = None
    deaths: list[str] = field(default_factory=list)


class ProcessPoolBackend:
    """``workers`` processes with ``cpus`` pinned cores each; one job per worker at a time."""

    def __init__(self, work: Work, workers: int, cpus: int, retries: int = 2):
        self.work, self.retries = work, retries
        self.ctx = mp.get_context("spawn")
        self.outbox = self.ctx.Queue()
        self.slots = [_Slot(f"worker {i + 1}", c) for i, c in enumerate(core_slots(workers, cpus))]
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: _Slot) -> None:
        slot.inbox = self.ctx.Queue()
        slot.process = self.ctx.Process(
            target=_worker_main,
            args=(self.work, slot.inbox, self.outbox, slot.cores, slot.name, os.getpid()),
            name=slot.name,
        )
        slot.process.start()

    def can_take(self, job: Job) -> bool:
        return any(s.order is None for s in self.slots)

    def submit(self, order: Order) -> None:
        slot = next(s for s in self.slots if s.order is None)
        order.where, order.cores = slot.name, slot.cores
        slot.order = order
        slot.inbox.put(order)

    def in_flight(self) -> dict[Hashable, str]:
        return {s.order.job.key: s.name for s in self.slots if s.order is not None}

    def poll(self, timeout: float) -> list[Outcome]:
        outcomes = self._drain(timeout)
        for slot in self.slots:
            if slot.order is not None and not slot.process.is_alive():
                outcomes += self._drain(0.0)  # a result sent just before the exit still counts
                if slot.order is None:
                    continue
                outcomes += self._retry(slot)
        return outcomes

    def _drain(self, timeout: float) -> list[Outcome]:
        out = []
        try:
            while True:
                outcome = self.outbox.get(timeout=timeout)
                timeout = 0.0
                slot = next(s for s in self.slots if s.order is not None and s.order.job.key == outcome.key)
                slot.order = None
                out.append(outcome)
        except queue.Empty:
            return out

    def _retry(self, slot: _Slot) -> list[Outcome]:
        """The worker died mid-job: start a new one in its place and send the job again."""
        order, code = slot.order, slot.process.exitcode
        slot.deaths.append(f"exit {code}")
        slot.order = None
        self._start(slot)
        if order.attempt >= self.retries:
            error = WorkerDied(
                f"{slot.name} died {order.attempt + 1} times running '{order.job.label}' (last exit code {code}); "
                "giving up on it"
            )
            return [Outcome(order.job.key, None, error, slot.name, order.attempt + 1)]
        self.submit(Order(order.job, order.attempt + 1))
        return []

    def close(self) -> None:
        for slot in self.slots:
            if slot.process.is_alive() and slot.order is None:
                slot.inbox.put(None)
        for slot in self.slots:
            slot.process.join(timeout=5 if slot.order is None else 0)
            if slot.process.is_alive():
                slot.process.terminate()
                slot.process.join(timeout=5)
            if slot.process.is_alive():
                slot.process.kill()
