"""SIGKILL a run part-way through; the rerun recomputes no finished task and loses or duplicates nothing."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import run_cli, tiny_recipe
from torchslim.store import Store

SEEDS = [0, 1, 2]


@pytest.mark.e2e  # a real SIGKILL mid-run; in-process sibling: tests/test_interrupt.py: `make test-e2e`
def test_sigkill_then_rerun(write_config, workspace):
    cfg = write_config(tiny_recipe(seeds=SEEDS, train={"epochs": 3, "batch_size": 64, "lr": 0.05}))
    db = workspace / "runs" / "torchslim.db"
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchslim", "run", str(cfg), "--workers", "1"],  # one task at a time
        cwd=workspace,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    finished = []
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            finished = Store(db).rows()
            if finished:
                break
        time.sleep(0.1)
    ck = None
    while time.time() < deadline and proc.poll() is None and ck is None:  # wait for the next task's first epoch
        ck = next(workspace.glob("runs/tiny/tasks/*seed1*/checkpoint.pt"), None)
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r.seed: r for r in Store(db).rows()}
    assert 1 <= len(before) < len(SEEDS), "the kill must land part-way through the run"

    rerun = run_cli("run", str(cfg), cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    after = Store(db).rows()
    assert sorted(r.seed for r in after) == SEEDS  # nothing lost, nothing duplicated
    for seed, row in before.items():  # finished entries were not recomputed
        again = next(r for r in after if r.seed == seed)
        timed = ("latency", "peak_gflops", "peaks", "latency_where", "deployment_checks")  # the phase after all tasks
        trained = {k: v for k, v in again.metrics.items() if k not in timed}
        assert (again.id, again.created_at, trained) == (
            row.id,
            row.created_at,
            {k: v for k, v in row.metrics.items() if k not in timed},
        )
        assert again.metrics["latency"], "the rerun times what the killed run had not yet timed"
        assert f"skip  simple_cnn_6x2 | digits | baseline | seed {seed}" in rerun.stderr
    assert rerun.stderr.count("run   ") == len(SEEDS) - len(before)
    resumed = [r for r in after if r.seed not in before and r.metrics["resumed_from_epoch"] > 0]
    assert ck is None or resumed, "the interrupted task resumes from its last epoch checkpoint"
