"""MLflow mirroring: one MLflow run per stored task, with the store's numbers, found by search_runs."""

import sys

import pytest

from tests.conftest import run_cli, tiny_recipe
from torchslim.errors import ConfigError
from torchslim.store import Store
from torchslim.tracking import flatten, mlflow_module


def test_without_the_extra_tracking_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    with pytest.raises(ConfigError, match=r"tracking.mlflow needs MLflow: pip install 'torchslim\[mlflow\]'"):
        mlflow_module()


def test_a_config_flattens_to_dotted_params():
    assert flatten({"train": {"lr": 0.1, "device": "auto"}, "methods": [{"a": 1}], "seed": 0}) == {
        "train.lr": "0.1",
        "train.device": "auto",
        "methods": '[{"a": 1}]',
        "seed": "0",
    }


def test_a_tracked_run_logs_one_mlflow_run_per_task_with_the_stores_top1(write_config, workspace, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    cfg = write_config(
        tiny_recipe(
            methods=[{"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 0}}],
            measure={"runtimes": ["onnxruntime"], "batch_sizes": [1], "min_seconds": 0.05},
        )
    )
    r = run_cli("run", str(cfg), "--workers", "1", "--mlflow", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert "mlflow: 2 run(s) logged, 0 already there" in r.stderr + r.stdout
    uri = f"sqlite:///{workspace / 'runs' / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # read by mlflow.search_runs (no global state is set)
    runs = mlflow.search_runs(experiment_names=["tiny"], output_format="list")
    stored = {(row.method_chain, row.seed): row for row in Store(workspace / "runs" / "torchslim.db").rows()}
    assert len(runs) == len(stored) == 2
    for run in runs:
        row = stored[(run.data.tags["method_chain"], int(run.data.tags["seed"]))]
        assert run.info.status == "FINISHED"
        assert run.data.metrics["top1"] == pytest.approx(row.metrics["top1"])
        assert run.data.metrics["latency_ms.onnxruntime.cpu.b1"] > 0
        assert run.data.params["model.name"] == "simple_cnn_6x2" and run.data.params["train.epochs"] == "2"
        files = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run.info.run_id, "artifact")}
        assert {"artifact/model.pt", "artifact/task.yaml"} <= files
        reports = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run.info.run_id, "report")}
        assert reports == {"report/report.md", "report/report.html"}
    # the rerun finds every task stored and mirrored: nothing is logged twice
    again = run_cli("run", str(cfg), "--workers", "1", "--mlflow", cwd=workspace)
    assert "mlflow: 0 run(s) logged, 2 already there" in again.stderr + again.stdout


def test_an_unreachable_tracking_server_is_one_line_and_the_run_is_complete(write_config, workspace):
    """Issue 35, defect 20: http://127.0.0.1:1 hung 254 s, then a traceback."""
    import time

    pytest.importorskip("mlflow")
    cfg = write_config(tiny_recipe(tracking={"mlflow": True, "mlflow_uri": "http://127.0.0.1:1"}))
    start = time.perf_counter()
    r = run_cli("run", str(cfg), "--workers", "1", cwd=workspace)
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(lines) == 1
    assert "MLflow tracking server http://127.0.0.1:1 is unreachable" in lines[0]
    assert "the results store and the report are complete" in lines[0]
    assert time.perf_counter() - start < 120
    assert len(Store(workspace / "runs" / "torchslim.db").rows()) == 1
    assert (workspace / "runs" / "tiny" / "report.md").is_file()


def test_any_mlflow_failure_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from torchslim.config.tracking import TrackingConfig
    from torchslim.tracking import TrackingError, log_rows

    def broken(*a, **k):
        raise RuntimeError("server said 500\nwith a body")

    monkeypatch.setattr("torchslim.tracking._log_rows", broken)
    with pytest.raises(TrackingError, match=r"MLflow at .* failed \(RuntimeError: server said 500 with a body\)"):
        log_rows([], TrackingConfig(mlflow=True), tmp_path, "x")
