"""Ctrl-C in the middle of a run, in this process: exit 130 with what finished, and the rerun resumes.

The fast sibling of the real-process tests in the e2e tier (`test_cli.py`'s SIGINT, `test_kill_resume.py`'s
SIGKILL): the same driver code, the interrupt raised right after a task's first epoch checkpoint.
"""

from __future__ import annotations

from tests.conftest import run_cli, tiny_recipe
from torchslim.store import Store
from torchslim.train import trainer


def test_ctrl_c_exits_130_keeps_what_finished_and_the_rerun_resumes_the_task_in_progress(
    write_config, workspace, monkeypatch
):
    cfg = write_config(tiny_recipe(seeds=[0, 1, 2], train={"epochs": 2, "batch_size": 64, "lr": 0.05}))
    real_save = trainer.save_atomic

    def save_then_interrupt(blob, path):
        real_save(blob, path)
        if "seed1" in str(path) and blob["epochs_done"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_atomic", save_then_interrupt)
    stopped = run_cli("run", str(cfg), "--workers", "1", cwd=workspace)
    assert stopped.returncode == 130 and "Traceback" not in stopped.stderr
    assert "interrupted: 1 of 3 tasks finished this time" in stopped.stderr
    assert "rerun the same command" in stopped.stderr
    db = workspace / "runs" / "torchslim.db"
    (first,) = Store(db).rows()
    assert first.seed == 0

    monkeypatch.setattr(trainer, "save_atomic", real_save)
    rerun = run_cli("run", str(cfg), "--workers", "1", cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    rows = {r.seed: r for r in Store(db).rows()}
    assert sorted(rows) == [0, 1, 2] and rerun.stderr.count("skip") == 1
    assert (rows[0].id, rows[0].created_at) == (first.id, first.created_at)  # not recomputed
    assert rows[1].metrics["resumed_from_epoch"] == 1 and rows[2].metrics["resumed_from_epoch"] == 0


def test_sigterm_says_what_finished_and_exits_143(write_config, workspace, monkeypatch):
    """Issue 35, defect 13: SIGTERM exited 143 with no message."""
    import os
    import signal

    cfg = write_config(tiny_recipe(seeds=[0, 1], train={"epochs": 1, "batch_size": 64, "lr": 0.05}))
    real_put = Store.put

    def put_then_terminate(self, row):
        real_put(self, row)
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, after the first task is stored

    monkeypatch.setattr(Store, "put", put_then_terminate)
    stopped = run_cli("run", str(cfg), "--workers", "1", cwd=workspace)
    assert stopped.returncode == 143 and "Traceback" not in stopped.stderr
    assert "terminated (SIGTERM): 1 of 2 tasks finished this time" in stopped.stderr
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the CLI put the handler back
