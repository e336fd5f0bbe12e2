"""The command line, run as a real subprocess: bad input gives one line and exit code 2."""

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli, tiny_recipe


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_model(write_config, workspace):
    line = one_error_line(run_cli("run", str(write_config(tiny_recipe(models=["resnet21"]))), cwd=workspace))
    assert "unknown model 'resnet21'" in line and "Valid choices:" in line and "resnet20" in line


def test_unknown_dataset(write_config, workspace):
    line = one_error_line(run_cli("validate", str(write_config(tiny_recipe(dataset="minst"))), cwd=workspace))
    assert "unknown dataset 'minst'" in line and "mnist" in line and "Valid choices:" in line


def test_wrong_type_in_yaml(write_config, workspace):
    line = one_error_line(run_cli("run", str(write_config(tiny_recipe(train={"epochs": "ten"}))), cwd=workspace))
    assert "train.epochs" in line and "valid integer" in line and "'ten'" in line


def test_wrong_choice_in_yaml_lists_choices(write_config, workspace):
    line = one_error_line(run_cli("run", str(write_config(tiny_recipe(train={"schedule": "step"}))), cwd=workspace))
    assert "train.schedule" in line and "'onecycle', 'cosine' or 'constant'" in line


def test_missing_data_root(write_config, workspace):
    cfg = write_config(tiny_recipe(dataset={"name": "cifar10", "root": str(workspace / "no-data")}))
    line = one_error_line(run_cli("run", str(cfg), cwd=workspace))
    assert "cifar-10-batches-py" in line and "no-data" in line


def test_unreadable_checkpoint(write_config, workspace):
    (workspace / "broken.pt").write_bytes(b"\x00garbage")
    cfg = write_config(tiny_recipe(models=[{"name": "simple_cnn_6x2", "checkpoint": "broken.pt"}]))
    line = one_error_line(run_cli("run", str(cfg), cwd=workspace))
    assert "cannot read checkpoint 'broken.pt'" in line and "weights_only=True" in line


def test_bad_override(write_config, workspace):
    line = one_error_line(run_cli("validate", str(write_config(tiny_recipe())), "epochs3", cwd=workspace))
    assert "key=value" in line


def test_registries_are_listed(workspace):
    models = run_cli("models", cwd=workspace)
    assert models.returncode == 0 and "resnet110" in models.stdout and "timm:NAME" in models.stdout
    data = run_cli("datasets", cwd=workspace)
    assert data.returncode == 0 and "mnist5k" in data.stdout and "imagefolder:NAME" in data.stdout


def test_validate_changes_nothing(write_config, workspace):
    proc = run_cli("validate", str(write_config(tiny_recipe())), "train.epochs=1", cwd=workspace)
    assert proc.returncode == 0 and "epochs: 1" in proc.stdout and "valid: 1 task(s)" in proc.stdout
    assert not (workspace / "runs").exists()


def test_run_records_provenance_and_results_prints_it(write_config, workspace):
    cfg = write_config(tiny_recipe(seeds=[0, 1], train={"epochs": 1, "batch_size": 64, "lr": 0.05}))
    # one worker: the pool is tests/executors/test_local.py's subject, and spawning it costs ~10 s here
    assert run_cli("run", str(cfg), "--workers", "1", cwd=workspace).returncode == 0
    rows = json.loads(run_cli("results", "--format", "json", cwd=workspace).stdout)
    assert [r["seed"] for r in rows] == [0, 1]
    r = rows[0]
    assert r["config"]["train"]["epochs"] == 1 and r["config"]["seed"] == 0
    assert r["versions"]["torch"] == torch.__version__.split("+")[0] or r["versions"]["torch"]
    assert r["hardware"]["logical_cores"] >= 1 and "isa" in r["hardware"] and r["git_commit"]
    assert 0 <= r["metrics"]["top1"] <= 100
    model_file = workspace / r["artifacts"]["dir"] / r["artifacts"]["model"]
    assert torch.load(model_file, weights_only=True)
    csv = run_cli("results", "--format", "csv", cwd=workspace).stdout.splitlines()
    assert csv[0].startswith("model,dataset,method_chain,seed") and len(csv) == 3
    report = (workspace / "runs" / "tiny" / "report.md").read_text()
    assert "±" in report and "xx.xx" not in report and "## Hardware and software" in report
    assert (workspace / "runs" / "tiny" / "config.resolved.yaml").exists()
    again = run_cli("run", str(cfg), "--workers", "1", cwd=workspace)
    assert again.stderr.count("skip") == 2 and "run   " not in again.stderr


@pytest.mark.parametrize("fmt", ["xml"])
def test_results_unknown_format(fmt, write_config, workspace):
    run_cli("run", str(write_config(tiny_recipe(train={"epochs": 1}))), cwd=workspace)
    line = one_error_line(run_cli("results", "--format", fmt, cwd=workspace))
    assert "json" in line and "csv" in line


def test_results_without_store(workspace):
    line = one_error_line(run_cli("results", cwd=workspace))
    assert "no results store" in line


def test_chain_reuses_a_baseline_trained_by_another_run(write_config, workspace):
    first = write_config(tiny_recipe(train={"epochs": 1}), "a.yaml")
    assert run_cli("run", str(first), cwd=workspace).returncode == 0
    second = write_config(
        tiny_recipe(
            name="other", train={"epochs": 1}, methods=[{"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 0}}]
        ),
        "b.yaml",
    )
    proc = run_cli("run", str(second), cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "skip  simple_cnn_6x2 | digits | baseline" in proc.stderr
    rows = json.loads(run_cli("results", "--format", "json", cwd=workspace).stdout)
    chain = [r for r in rows if r["method_chain"].startswith("prune.unstructured")]
    assert len(chain) == 1 and chain[0]["metrics"]["nonzero_params"] < 0.6 * chain[0]["metrics"]["params"]


def test_int8_chain_stores_the_onnx_artifact_and_its_measurements(write_config, workspace):
    cfg = write_config(
        tiny_recipe(
            train={"epochs": 1},
            methods=[
                [
                    {"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}},
                    {"quant.static": {"calibration_samples": 64}},
                ]
            ],
        )
    )
    proc = run_cli("run", str(cfg), cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(run_cli("results", "--format", "json", cwd=workspace).stdout)
    base = next(r for r in rows if r["method_chain"] == "baseline")
    q = next(r for r in rows if r["method_chain"].endswith("quant.static(calibration_samples=64)"))
    assert (q["artifacts"]["kind"], q["artifacts"]["model"], q["artifacts"]["onnx"]) == ("onnx", None, "model.onnx")
    assert (base["artifacts"]["kind"], base["artifacts"]["model"], base["artifacts"]["onnx"]) == (
        "torchslim",
        "model.pt",
        "model.onnx",
    )
    assert (Path(base["artifacts"]["dir"]) / "model.onnx").exists()  # exported by the runner, not by measure()
    assert [x["runtime"] for x in q["metrics"]["latency"]] == ["onnxruntime"]
    # issue 36: the INT8 file's row is held to this machine's INT8 GEMM peak, the float rows to FP32's
    (row,) = q["metrics"]["latency"]
    assert row["peak_precision"] == "int8" and row["peak_gflops"] == q["metrics"]["peaks"]["int8"] > 0
    assert {x["peak_precision"] for x in base["metrics"]["latency"]} == {"fp32"}
    assert q["metrics"]["file_bytes"] < 0.2 * base["metrics"]["file_bytes"]  # half the channels, then INT8
    assert q["metrics"]["macs"] < 0.5 * base["metrics"]["macs"]
    report = (workspace / "runs" / "tiny" / "report.md").read_text()
    assert "n/a (ONNX INT8)" in report


@pytest.mark.parametrize(
    "args, says",
    [
        (["run", "CONFIG", "--frce"], "No such option: --frce"),
        (["run"], "Missing argument 'config'"),
        (["bench", "simple_cnn_6x2", "--batch-sizes", "abc"], "Invalid value for '--batch-sizes'"),
        (["runn"], "No such command 'runn'"),
        ([], "Usage: torchslim"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_line_and_no_traceback(args, says, write_config, workspace):
    cfg = write_config(tiny_recipe())
    proc = run_cli(*[str(cfg) if a == "CONFIG" else a for a in args], cwd=workspace)
    shown = proc.stdout + proc.stderr
    assert proc.returncode == 2, shown
    assert "Traceback" not in shown
    assert "Usage: torchslim" in shown and says in shown


@pytest.mark.e2e  # a real SIGINT to a 3-seed run, about a minute (`make test-e2e`); sibling: tests/test_interrupt.py
def test_ctrl_c_exits_130_says_what_finished_and_the_rerun_resumes(write_config, workspace):
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    from torchslim.store import Store

    # long enough tasks that the interrupt lands while two are still running (3 epochs once all finished first)
    cfg = write_config(tiny_recipe(seeds=[0, 1, 2], train={"epochs": 10, "batch_size": 64, "lr": 0.05}))
    db = workspace / "runs" / "torchslim.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchslim", "run", str(cfg)],
        cwd=workspace,
        env=dict(os.environ, TORCHSLIM_NO_PROGRESS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a shell runs background jobs with SIGINT ignored, and Python then installs no Ctrl-C handler:
        # give the run the default disposition a terminal would (make test launched with & failed here)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (db.exists() and Store(db).rows()):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    finished = re.search(r"interrupted: (\d+) of 3 tasks finished this time", err)
    assert finished and "rerun the same command" in err, err
    stored = len(Store(db).rows())
    assert stored == int(finished.group(1)) >= 1
    rerun = run_cli("run", str(cfg), cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr.count("skip") == stored and len(Store(db).rows()) == 3


def test_a_deleted_artifact_skips_the_comparison_and_the_report_is_still_rebuilt(write_config, workspace):
    """Issue 16: a deleted artifact aborted the comparison step, and the report was not rebuilt."""
    cfg = write_config(
        tiny_recipe(train={"epochs": 1}, methods=[{"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 0}}])
    )
    assert run_cli("run", str(cfg), cwd=workspace).returncode == 0
    pruned = next((workspace / "runs" / "tiny" / "tasks").glob("*prune.unstructured*/model.pt"))
    pruned.unlink()
    report = workspace / "runs" / "tiny" / "report.md"
    report.unlink()
    again = run_cli("run", str(cfg), cwd=workspace)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert "skipped for simple_cnn_6x2" in again.stderr and "is gone" in again.stderr
    assert report.exists() and "Pruning (Unstr.)" in report.read_text()


def test_a_batch_size_added_to_a_finished_run_is_measured_without_retraining(write_config, workspace):
    """Issue 16: measure.batch_sizes [1, 4] added to a finished run skipped everything silently."""
    cfg = write_config(
        tiny_recipe(
            train={"epochs": 1},
            methods=[{"quant.dynamic": {}}],
            measure={"batch_sizes": [1], "min_seconds": 0.05, "compare": False},
        )
    )
    assert run_cli("run", str(cfg), cwd=workspace).returncode == 0
    again = run_cli("run", str(cfg), "measure.batch_sizes=[1,4]", cwd=workspace)
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    assert not [line for line in lines if line.startswith("run   ")], again.stderr  # nothing retrained
    assert len([line for line in lines if line.startswith("measure simple_cnn_6x2")]) == 2, again.stderr
    rows = json.loads(run_cli("results", "--format", "json", cwd=workspace).stdout)
    timed = {r["method_chain"]: sorted((x["runtime"], x["batch_size"]) for x in r["metrics"]["latency"]) for r in rows}
    assert timed["baseline"] == [("onnxruntime", 1), ("onnxruntime", 4), ("torch", 1), ("torch", 4)]
    assert timed["quant.dynamic()"] == [("onnxruntime", 1), ("onnxruntime", 4)]  # an ONNX file: no PyTorch row


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_model_that_cannot_take_the_datasets_images_is_refused_before_training(command, write_config, workspace):
    proc = run_cli(command, str(write_config(tiny_recipe(models=["torchvision:alexnet"]))), cwd=workspace)
    line = one_error_line(proc)
    assert "model 'torchvision:alexnet' cannot take the 1x8x8 images of dataset 'digits'" in line
    assert not (workspace / "runs" / "torchslim.db").exists() or "run   " not in proc.stderr


def test_bench_refuses_a_bad_store_before_measuring(workspace):
    (workspace / "notes.txt").write_text("not a database\n")
    proc = run_cli("bench", "simple_cnn_6x2", "--store", "notes.txt", "--min-seconds", "30", cwd=workspace, timeout=60)
    line = one_error_line(proc)  # within the timeout: 30 s per row would have been measured first
    assert "notes.txt" in line and "not a readable SQLite" in line
    assert (workspace / "notes.txt").read_text() == "not a database\n"


def test_a_training_split_smaller_than_a_batch_is_refused_before_any_task(write_config, workspace):
    proc = run_cli("run", str(write_config(tiny_recipe(train={"epochs": 1, "batch_size": 4096}))), cwd=workspace)
    line = one_error_line(proc)
    assert "train.batch_size 4096 is larger than the training split of 'digits' (1437 images)" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--executor", "slurm"], "unknown executor 'slurm'; choose one of: local, ray"),
        (["--workers", "0"], "--workers must be a whole number of at least 1, or auto (got '0')"),
        (["--workers", "many"], "--workers must be a whole number of at least 1, or auto (got 'many')"),
        (["--executor", "ray", "--address", "127.0.0.1:9"], "cannot reach the Ray cluster at '127.0.0.1:9'"),
        (["--executor", "ray", "--address", "nowhere"], "--address 'nowhere' is not HOST:PORT"),
    ],
)
def test_a_bad_executor_choice_is_one_line(args, expected, write_config, workspace):
    line = one_error_line(run_cli("run", str(write_config(tiny_recipe())), *args, cwd=workspace))
    assert expected in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_one_line_before_any_training(write_config, workspace):
    line = one_error_line(run_cli("run", str(write_config(tiny_recipe())), "train.device=cuda", cwd=workspace))
    assert "train.device is 'cuda' but torch sees no CUDA device" in line and "use device: cpu or auto" in line
    assert not (workspace / "runs" / "torchslim.db").exists() or "tasks" not in line


def test_a_sweep_dry_run_prints_the_graph_without_its_datasets(workspace):
    sweep = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "seed002.yaml"
    proc = run_cli("run", str(sweep), "--dry-run", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "93 tasks (93 baselines, 0 chains, 0 dependencies)" in proc.stdout
    assert "resnet110 | cifar100 | baseline | seed 2" in proc.stdout and "1 CPU" in proc.stdout
    assert "dataset root 'data/cifar10' is missing" in proc.stdout
    assert not (workspace / "runs").exists()  # a dry run writes nothing


def test_a_real_run_of_the_sweep_names_the_missing_root(workspace):
    sweep = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "seed002.yaml"
    line = one_error_line(run_cli("run", str(sweep), cwd=workspace))
    assert "data/mnist" in line and "downloading is disabled" in line


def test_eval_gives_the_same_top1_for_an_artifact_and_its_onnx_export(write_config, workspace):
    from torchslim.store import Store

    cfg = write_config(tiny_recipe(measure={"latency": True, "runtimes": ["onnxruntime"], "batch_sizes": [1]}))
    assert run_cli("run", str(cfg), "--workers", "1", cwd=workspace).returncode == 0
    (folder,) = (workspace / "runs" / "tiny" / "tasks").iterdir()
    results = {}
    for name in ("model.pt", "model.onnx"):
        r = run_cli("eval", str(folder / name), "--data", "digits", "--json", cwd=workspace)
        assert r.returncode == 0, r.stderr
        results[name] = json.loads(r.stdout)
    stored = Store(workspace / "runs" / "torchslim.db").rows()[0].metrics["top1"]
    assert results["model.pt"]["images"] == results["model.onnx"]["images"] == 360
    assert results["model.pt"]["split"] == "test"
    assert results["model.pt"]["top1"] == results["model.onnx"]["top1"] == pytest.approx(stored)
    assert results["model.pt"]["loss"] == pytest.approx(results["model.onnx"]["loss"], rel=1e-4)


@pytest.mark.parametrize(
    "args, says",
    [
        (["resnet20", "--data", "digits"], "is a model name: give its trained weights with --checkpoint PATH"),
        (["missing.onnx", "--data", "digits"], "ONNX file 'missing.onnx' does not exist"),
        (["missing.pt", "--data", "digits", "--split", "val"], "dataset 'digits' is evaluated on its test split"),
        (["missing.pt", "--data", "digits", "--split", "train"], "--split train: choose val or test"),
        (["missing.pt", "--data", "nosuch"], "unknown dataset 'nosuch'"),
    ],
)
def test_eval_bad_input_is_one_line(args, says, workspace):
    assert says in one_error_line(run_cli("eval", *args, cwd=workspace))


def test_markup_in_stored_names_is_printed_as_text(workspace):
    """Issue 35, defect 14: a '[/]' in a dataset name crashed the rich table; `results` always crashed."""
    from torchslim.store import ResultRow, Store

    metrics = {"top1": 1.0, "top5": 2.0, "params": 3, "macs": 4, "eval_split": "test"}
    Store(workspace / "runs" / "torchslim.db").put(
        ResultRow("abc", "r", "m[/]", "d[/][bold]", "baseline[/]", 0, metrics, {}, {}, "sha", {}, {})
    )
    proc = run_cli("results", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "d[/][bold]" in proc.stdout.replace("\n", "") and "m[/]" in proc.stdout


def test_bench_input_size_beyond_any_image_is_one_line(workspace):
    """Issue 35, defect 21: --input-size 100000 was a raw allocation error."""
    line = one_error_line(run_cli("bench", "simple_cnn_6x2", "--input-size", "100000", cwd=workspace))
    assert "input_size" in line and "4096" in line


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_folder_or_fifo_is_named_for_what_it_is(workspace, kind):
    """Issue 35, defect 22: folders and FIFOs were called "does not exist"."""
    import os

    path = workspace / "cfg.yaml"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    line = one_error_line(run_cli("validate", str(path), cwd=workspace))
    assert ("is a folder, not a file" if kind == "folder" else "is not a regular file (a FIFO") in line
    line = one_error_line(
        run_cli("eval", "simple_cnn_6x2", "--checkpoint", str(path), "--data", "digits", cwd=workspace)
    )
    assert f"checkpoint '{path}' is " in line and "does not exist" not in line


def test_an_unknown_timm_name_with_no_close_match_offers_no_empty_guess(workspace):
    """Issue 35, defect 22: "Did you mean ?" with nothing after it."""
    line = one_error_line(run_cli("bench", "timm:qqqqqqqqqqqqqqqq", cwd=workspace))
    assert "Did you mean" not in line and "unknown model 'timm:qqqqqqqqqqqqqqqq'" in line


def test_sensitivity_of_a_seed_the_recipe_lacks_is_one_line(write_config, workspace):
    """Issue 35, defect 22: `sensitivity --seeds 7` silently did nothing."""
    line = one_error_line(run_cli("sensitivity", str(write_config(tiny_recipe())), "--seeds", "7", cwd=workspace))
    assert "--seeds 7: not a seed of this recipe; its seeds are 0" in line
