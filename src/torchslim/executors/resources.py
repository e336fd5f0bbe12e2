"""How many threads a task gets and how many workers run side by side, when the user says ``auto``.

A task's thread count is part of its result (CPU reductions depend on it), so it is decided by the
task alone, never by the executor: the same config and seed give the same metrics with one worker
or many. Small models train faster as many one-thread tasks side by side than as one task on all
cores; large ones get every core.
"""

from __future__ import annotations

import os

SMALL_TASK_MACS = 300e6  # per image: ResNet-56 on CIFAR (125 M) is small, ResNet-18 at 224 (1.8 G) is not
WORKER_OVERHEAD_BYTES = 768 * 2**20  # a worker's interpreter, torch and its model, besides the data


def machine_cores() -> int:
    """The cores this process may use (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def available_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with the install
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def task_threads(configured: int | None, macs_per_image: float, cores: int | None = None) -> int:
    """``train.threads`` when set; else one thread for a small model and all cores for a large one."""
    if configured:
        return configured
    return 1 if macs_per_image < SMALL_TASK_MACS else cores or machine_cores()


def auto_workers(
    threads: int, widest: int, data_bytes: int, cores: int | None = None, memory: int | None = None
) -> int:
    """As many workers as the cores hold at ``threads`` each, no more than jobs can run at once
    (``widest``) and no more than memory holds (each worker decodes its own copy of the data)."""
    cores = cores or machine_cores()
    memory = memory if memory is not None else available_memory()
    by_memory = max(1, int(0.8 * memory) // (data_bytes + WORKER_OVERHEAD_BYTES))
    return max(1, min(cores // max(threads, 1), max(widest, 1), by_memory))
