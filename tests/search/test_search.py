"""``torchslim search`` end to end on a tiny recipe: trials as stored tasks, the pick, its recipe, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import run_cli, tiny_recipe

pytest.importorskip("optuna")

SPACE = {
    "chains": ["structured", "unstructured", "structured+static"],
    "structured": {"importance": ["l1", "random"], "round_to": [1]},
    "finetune": ["plain"],
    "finetune_epochs": 1,
}


def search_recipe(name="srch", **search):
    raw = tiny_recipe(name, train={"epochs": 2, "batch_size": 64, "lr": 0.05})
    raw["search"] = {"objective": "macs", "max_drop": 5.0, "trials": 4, "space": SPACE, "margin": 50.0} | search
    return raw


def test_search_finds_a_pick_within_budget_and_writes_everything(write_config, workspace):
    """The config's name holds a newline (issue 35, defect 5): it must not inject YAML into recipe.yaml."""
    cfg = write_config(search_recipe())
    cfg = cfg.rename(cfg.with_name("srch\noutput_dir: INJECTED_DIR #.yaml"))
    proc = run_cli("search", str(cfg), cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = workspace / "runs" / "srch" / "search"
    trials = json.loads((folder / "trials.json").read_text())
    assert len(trials) == 4
    done = [t for t in trials if t["state"] == "complete"]
    assert done, trials
    base_top1 = None
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        rows = db.execute("SELECT method_chain, metrics FROM results").fetchall()
    chains = {c: json.loads(m) for c, m in rows}
    base_top1 = chains["baseline"]["top1"]
    for t in done:  # each trial is an ordinary stored task with its measured top-1 and MACs
        assert chains[t["label"]]["top1"] == t["top1"]
        assert t["value"] == chains[t["label"]]["macs"]
        assert abs(t["drop"] - (base_top1 - t["top1"])) < 1e-9
    feasible = [t for t in done if t["drop"] <= 5.0]
    pick = min(feasible, key=lambda t: (t["value"], -t["top1"]))
    assert "Picked: the fewest MACs among the trials within 5 points" in proc.stderr
    html = (folder / "report.html").read_text()
    assert "Pareto front" in html and pick["label"].split("(")[0] in html
    assert (folder / "front.png").stat().st_size > 1000
    assert (folder / "pick" / "model.onnx").stat().st_size > 1000
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    assert "search" not in recipe and len(recipe["methods"]) == 1
    assert recipe.get("output_dir") != "INJECTED_DIR"
    assert f"trial {pick['number']}" in (folder / "recipe.yaml").read_text()


def test_the_recipe_reproduces_the_picks_top1_in_a_fresh_store(write_config, workspace):
    cfg = write_config(search_recipe(trials=3))
    assert run_cli("search", str(cfg), cwd=workspace).returncode == 0
    folder = workspace / "runs" / "srch" / "search"
    trials = {t["number"]: t for t in json.loads((folder / "trials.json").read_text())}
    text = (folder / "recipe.yaml").read_text()
    number = int(text.split("trial ", 1)[1].split(",", 1)[0])
    proc = run_cli("run", str(folder / "recipe.yaml"), "store=fresh.db", "measure.latency=false", cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(workspace / "fresh.db") as db:
        rows = dict(db.execute("SELECT method_chain, metrics FROM results").fetchall())
    assert len(rows) == 2  # trained again from scratch: baseline and the pick's chain
    assert json.loads(rows[trials[number]["label"]])["top1"] == trials[number]["top1"]


def finished(db_path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(db_path) as db:
            return db.execute(
                "SELECT COUNT(*) FROM trials t WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL') AND NOT EXISTS "
                "(SELECT 1 FROM trial_user_attributes a WHERE a.trial_id = t.trial_id AND a.key = 'repeat_of')"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.e2e  # a real SIGKILL mid-search (`make test-e2e`); sibling: the test below
def test_a_killed_search_resumes_without_recomputing_a_finished_trial(write_config, workspace):
    cfg = write_config(search_recipe(trials=5))
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchslim", "search", str(cfg)],
        cwd=workspace,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    optuna_db = workspace / "runs" / "torchslim.optuna.db"
    deadline = time.time() + 240
    while finished(optuna_db) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = finished(optuna_db)
    assert 2 <= before < 5
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        stamps = dict(db.execute("SELECT method_chain, created_at FROM results").fetchall())
    again = run_cli("search", str(cfg), cwd=workspace)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{before} of 5 trials already done" in again.stderr.replace("\n", " ")
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        after = dict(db.execute("SELECT method_chain, created_at FROM results").fetchall())
    for chain, stamp in stamps.items():  # nothing stored before the kill was computed again
        assert after[chain] == stamp
    trials = json.loads((workspace / "runs" / "srch" / "search" / "trials.json").read_text())
    assert len(trials) == 5
    html = (workspace / "runs" / "srch" / "search" / "report.md").read_text()
    for t in trials:
        assert t["label"] in html  # every trial is in the output


@pytest.mark.parametrize(
    "raw, flags, words",
    [
        (tiny_recipe("two", models=["simple_cnn_6x2", "enhanced_lenet5"]), [], "a search takes one model"),
        (tiny_recipe("bad"), ["--objective", "latency:tensorrt:b1"], "search.objective"),
        (tiny_recipe("bad"), ["--max-drop", "-1"], "search.max_drop"),
    ],
)
def test_bad_search_input_is_one_line(write_config, workspace, raw, flags, words):
    proc = run_cli("search", str(write_config(raw)), *flags, cwd=workspace)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr


def test_flags_set_the_search(write_config, workspace):
    raw = search_recipe(trials=2, max_drop=100.0)  # flags under test, not the budget: the one trial is within it
    proc = run_cli("search", str(write_config(raw)), "--objective", "size", "--trials", "1", cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trials = json.loads((workspace / "runs" / "srch" / "search" / "trials.json").read_text())
    assert len(trials) == 1 and trials[0]["value"] == trials[0]["file_bytes"]
    assert "smallest artifact" in proc.stderr


def test_a_search_asked_for_more_trials_continues_its_study_without_recomputing(write_config, workspace):
    """The fast sibling of the killed search above: the study and the stored trials carry over."""
    cfg = write_config(search_recipe(trials=1))
    assert run_cli("search", str(cfg), cwd=workspace).returncode in (0, 1)  # 1: its one trial missed the budget
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        stamps = dict(db.execute("SELECT method_chain, created_at FROM results").fetchall())
    more = run_cli("search", str(cfg), "search.trials=2", cwd=workspace)
    assert more.returncode in (0, 1) and "Traceback" not in more.stderr, more.stderr[-2000:]
    assert "1 of 2 trials already done" in " ".join(more.stderr.split())
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        after = dict(db.execute("SELECT method_chain, created_at FROM results").fetchall())
    assert all(after[chain] == stamp for chain, stamp in stamps.items()) and len(after) > len(stamps)
    assert len(json.loads((workspace / "runs" / "srch" / "search" / "trials.json").read_text())) == 2


def test_a_chain_drawn_again_is_not_run_again_nor_counted(write_config, workspace):
    raw = search_recipe(trials=2, space={"chains": ["static"]})  # one chain in the whole space
    proc = run_cli("search", str(write_config(raw)), cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    err = proc.stderr.replace("\n", " ")
    assert "keeps drawing chains it has already judged (7 repeats): stopped with 1 distinct trials" in err
    folder = workspace / "runs" / "srch" / "search"
    assert [t["label"] for t in json.loads((folder / "trials.json").read_text())] == ["quant.static()"]
    assert "drew 7 chain(s) already judged" in (folder / "report.md").read_text()


def test_an_impossible_budget_exits_1_naming_the_closest_trial(write_config, workspace):
    space = SPACE | {
        "chains": ["structured"],
        "structured": {"importance": ["l1"], "round_to": [1], "range": {"low": 0.05, "high": 0.05}},
    }
    raw = search_recipe(trials=1, max_drop=0.0, margin=100.0, space=space)  # 5 % of the MACs loses points
    proc = run_cli("search", str(write_config(raw)), cwd=workspace)
    assert proc.returncode == 1, proc.stderr[-2000:]
    err = " ".join(proc.stderr.split())  # rich wraps long lines
    assert "No trial met the budget: nothing was picked. The closest was trial 0, prune.structured(" in err
    assert "Traceback" not in proc.stderr


def test_a_chain_already_stored_does_not_take_a_workers_slot(write_config, workspace, monkeypatch):
    """With 2 workers, a batch holds two chains to compute: one stored by an earlier search is judged
    beside them, instead of leaving a worker idle for the whole batch."""
    from torchslim.config import load_config
    from torchslim.executors.choice import ExecutorChoice
    from torchslim.search import study

    monkeypatch.chdir(workspace)
    first = load_config(write_config(search_recipe(trials=1, space=SPACE | {"chains": ["static"]})))
    study.run_trials(first, first.search)  # stores quant.static() on this baseline
    batches = []
    real = study.run_tasks

    def recording(cfg, tasks, executor=None, **kw):
        store = real(cfg, [], executor=None)
        batches.append(([t.method_chain for t in tasks], sum(store.get(t.key) is None for t in tasks)))
        return real(cfg, tasks, executor=None, **kw)  # serial here: only the batch's make-up is asserted

    monkeypatch.setattr(study, "run_tasks", recording)
    cfg = load_config(write_config(search_recipe(trials=3, seed=1, space=SPACE | {"chains": ["static", "structured"]})))
    done, *_ = study.run_trials(cfg, cfg.search, executor=ExecutorChoice(workers=2))
    assert batches[0][1] == 0  # the baseline, stored by the first search
    trial_batches = batches[1:]
    assert len(done) == 3 and trial_batches[0][0][0] == "quant.static()"
    assert [len(labels) for labels, _ in trial_batches] == [3] and trial_batches[0][1] == 2


def test_a_judged_trial_whose_task_left_the_store_is_one_line(write_config, workspace):
    cfg = write_config(search_recipe(trials=1, space=SPACE | {"chains": ["static"]}))
    assert run_cli("search", str(cfg), cwd=workspace).returncode == 0
    with sqlite3.connect(workspace / "runs" / "torchslim.db") as db:
        db.execute("DELETE FROM results WHERE method_chain != 'baseline'")
    again = run_cli("search", str(cfg), cwd=workspace)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    line = again.stderr.strip().splitlines()[-1]
    assert "trial 0's task (quant.static()) is no longer in runs/torchslim.db: delete the study" in line


def test_a_second_search_on_the_same_store_is_refused_while_one_runs(write_config, workspace):
    """Issue 35, defect 12: a second search marked the first's live trial failed, trained the same task
    in the same folder, and the first died with UpdateFinishedTrialError. The running search is stood in
    for by its lock, held by another process (a real flock: the kernel drops it if that process dies)."""
    cfg = write_config(search_recipe(trials=2))
    lock = workspace / "runs" / "torchslim.optuna.db.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True, cwd=workspace)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli("search", str(cfg), cwd=workspace)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"another search is running on the store runs/torchslim.db (pid {holder.pid})" in proc.stderr
    assert not (workspace / "runs" / "torchslim.optuna.db").exists()  # it touched nothing


HOLD = """
import sys, time
from pathlib import Path
from torchslim.exclusive_lock import held
with held(Path(sys.argv[1]), "busy"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.e2e  # 45 s: a search with the final side-by-side retiming (`make test-e2e`)
def test_a_search_judged_in_openvino_times_its_trials_there(write_config, workspace):
    """Issue 36: the objective names any registered runtime (latency:openvino:b8)."""
    pytest.importorskip("openvino")
    space = {"chains": ["structured"], "structured": {"importance": ["l1"], "round_to": [1]}, "finetune": ["plain"],
             "finetune_epochs": 1}  # fmt: skip
    cfg = write_config(
        search_recipe(trials=2, objective="latency:openvino:b8", space=space, confirm=False, max_drop=50.0)
    )
    proc = run_cli("search", str(cfg), cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trials = json.loads((workspace / "runs" / "srch" / "search" / "trials.json").read_text())
    done = [t for t in trials if t["state"] == "complete"]
    assert done and all(t["value"] > 0 and t["latency_ms"] > 0 for t in done)  # timed in OpenVINO, side by side
    report = (workspace / "runs" / "srch" / "search" / "report.md").read_text()
    assert "latency:openvino:b8" in report
    # the pick's fastest deployment is named, in words and in the report, against the baseline's fastest
    named = re.search(
        r"Its fastest deployment: deploy with (PyTorch eager|ONNX Runtime|OpenVINO) \S+: ([0-9.]+) ms at batch 8, "
        r"([0-9.]+)× \(([0-9.]+)–([0-9.]+)\): (faster than|slower than|within noise of) the baseline's fastest "
        r"deployment \((.+?)\)",
        report,
    )
    assert named, report
    ms, ratio, low, high = (float(named.group(i)) for i in (2, 3, 4, 5))
    assert ms > 0 and low <= ratio <= high
    assert "the pick's fastest deployment: deploy with" in proc.stderr
