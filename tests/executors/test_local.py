"""Parallel workers on one machine: the same rows as one worker, and a killed worker's task is retried
from its checkpoint, with nothing lost or duplicated."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_recipe
from torchslim.config import validate_config
from torchslim.executors.choice import ExecutorChoice
from torchslim.executors.local import session_processes
from torchslim.runner import run
from torchslim.store import Store

TRAINED = ("top1", "top5", "loss", "params", "macs", "threads", "epochs")


def recipe(tmp: Path, name: str, **over):
    raw = tiny_recipe(
        name, **({"seeds": [0, 1], "methods": [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 1}}]} | over)
    )
    raw |= {"store": str(tmp / f"{name}.db"), "output_dir": str(tmp / name)}
    raw["measure"] = {"min_seconds": 0.02, "compare": False}
    return validate_config(raw)


def trained(rows):
    return {(r.method_chain, r.seed): {k: r.metrics[k] for k in TRAINED} for r in rows}


@pytest.mark.e2e  # two worker processes train for 20 s: `make test-e2e` (CI runs it after the default suite)
def test_two_workers_store_the_same_metrics_as_one(tmp_path):
    # two seeds' baselines run side by side, then each seed's chain once its baseline is stored
    one = run(recipe(tmp_path, "one"), formats=(), executor=ExecutorChoice("local", 1))
    two = run(recipe(tmp_path, "two"), formats=(), executor=ExecutorChoice("local", 2))
    assert len(one) == len(two) == 4
    assert trained(one) == trained(two)
    assert {r.metrics["worker"] for r in two} == {"worker 1", "worker 2"}
    assert all(r.metrics["latency"] for r in two)  # timed in the phase after the tasks


def kill_worker_after_first_epoch(folder_glob: str, root: Path, killed: list, stop: threading.Event) -> None:
    """SIGKILL the pool process that runs the first task to write an epoch checkpoint (its pid is in task.log)."""
    while not stop.is_set():
        for ck in root.glob(folder_glob):
            log = ck.parent / "task.log"
            if log.exists() and "pid" in log.read_text():
                pid = int(log.read_text().split("pid ")[1].split()[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(ck.parent.name)
                return
        time.sleep(0.02)


@pytest.mark.slow  # fault injection, over a minute: `make test-slow`
def test_a_worker_killed_mid_task_is_replaced_and_its_task_resumes(tmp_path):
    cfg = recipe(tmp_path, "fault", train={"epochs": 6, "batch_size": 64, "lr": 0.05})
    killed, stop = [], threading.Event()
    killer = threading.Thread(
        target=kill_worker_after_first_epoch, args=("fault/tasks/*baseline*/checkpoint.pt", tmp_path, killed, stop)
    )
    killer.start()
    try:
        rows = run(cfg, formats=(), executor=ExecutorChoice("local", 2))
    finally:
        stop.set()
        killer.join()
    assert killed, "the kill must land mid-task"
    stored = Store(cfg.store).rows()
    assert sorted((r.method_chain, r.seed) for r in stored) == sorted((r.method_chain, r.seed) for r in rows)
    assert len(stored) == 4  # exactly the expected rows: none lost, none duplicated
    retried = [r for r in stored if r.metrics["retries"] > 0]
    assert len(retried) == 1 and Path(retried[0].artifacts["dir"]).name == killed[0]
    assert retried[0].metrics["resumed_from_epoch"] >= 1  # from its last epoch checkpoint, not from scratch


DRIVER = """
import sys, time
from torchslim.executors.local import ProcessPoolBackend
backend = ProcessPoolBackend(len, 2, 1)
print(" ".join(str(s.process.pid) for s in backend.slots), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that never reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_driver_is_killed_while_they_start():
    """Issue 35, defect 11: SIGKILL the driver while its workers import torch, and the workers and
    the resource tracker were orphaned to PID 1 for good (the watchdog read getppid() too late)."""
    import subprocess
    import sys

    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    workers = [int(p) for p in driver.stdout.readline().split()]
    assert len(workers) == 2 and all(alive(p) for p in workers)  # still importing: the window of the defect
    assert len(session_processes(driver.pid)) == 4  # the driver, its resource tracker, two workers
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 30
    while session_processes(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_processes(driver.pid) == []
