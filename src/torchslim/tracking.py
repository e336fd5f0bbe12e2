"""Each stored task as an MLflow run: its resolved config as params, its metrics and latency rows,
its artifact files and the run's report.

The store stays the record; MLflow is a mirror that teams already browse. The driver logs after
the report is written, so a run holds its final latency rows; a task already mirrored with the same
row is not logged twice, and a rerun after Ctrl-C logs what the interrupted one did not. The
default tracking URI is an embedded SQLite file in ``mlruns/`` beside the run folder (MLflow's
plain-folder store is in maintenance mode and refuses to open without an opt-out since 3.x).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from torchslim.artifacts import stored_artifact
from torchslim.config.tracking import TrackingConfig
from torchslim.errors import ConfigError, TorchslimError
from torchslim.store import ResultRow


class TrackingError(TorchslimError):
    """MLflow could not take the mirror; the store and the report are already complete."""


#: MLflow's limit on a param value is 6000 characters; longer values are in the logged task.yaml
PARAM_LIMIT = 6000


def tracking_uri(cfg: TrackingConfig, run_dir: Path) -> str:
    if cfg.mlflow_uri:
        return cfg.mlflow_uri
    folder = (Path(run_dir).parent / "mlruns").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def mlflow_module():
    try:
        import mlflow
    except ImportError:
        raise ConfigError("tracking.mlflow needs MLflow: pip install 'torchslim[mlflow]' (make installs it)") from None
    return mlflow


#: MLflow retries an HTTP request 7 times with backoff (254 s before the first error on a dead
#: server); a mirror asks twice, 10 s each, unless the user's environment says otherwise
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
CONNECT_SECONDS = 5.0


def log_rows(rows: list[ResultRow], cfg: TrackingConfig, run_dir: Path, run_name: str) -> int:
    """Mirror ``rows`` as MLflow runs in the run's experiment; returns how many were logged now.
    Any failure is one line that says the store and report are complete (a rerun mirrors again)."""
    uri = tracking_uri(cfg, run_dir)
    try:
        reachable(uri)
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        return _log_rows(rows, cfg, uri, run_dir, run_name)
    except TorchslimError:
        raise
    except Exception as exc:  # MLflow raises many types: a server error, a refused write, a bad URI
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise TrackingError(
            f"MLflow at {uri} failed ({type(exc).__name__}: {reason}); the results store and the report are "
            "complete: rerun when it works, or without --mlflow"
        ) from None


def reachable(uri: str) -> None:
    """For an HTTP tracking server: a TCP connection within ``CONNECT_SECONDS``, or one line."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(uri)
    if url.scheme not in ("http", "https"):
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({exc.strerror or exc}); the results store and the "
            "report are complete: rerun when it is up, or without --mlflow"
        ) from None


def _log_rows(rows: list[ResultRow], cfg: TrackingConfig, uri: str, run_dir: Path, run_name: str) -> int:
    mlflow = mlflow_module()
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its table-migration chatter on a new store
    client = mlflow.MlflowClient(uri)
    name = cfg.experiment or run_name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        artifacts = None
        if uri.startswith("sqlite:///") and not cfg.mlflow_uri:
            artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
        experiment_id = client.create_experiment(name, artifact_location=artifacts)
    else:
        experiment_id = experiment.experiment_id
    logged = 0
    for row in rows:
        digest = row_digest(row)
        done = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`torchslim.row` = '{digest}' and attributes.status = 'FINISHED'",
            max_results=1,
        )
        if done:
            continue
        log_row(client, experiment_id, row, digest, run_dir)
        logged += 1
    return logged


def row_digest(row: ResultRow) -> str:
    """What a mirrored run stands for: the task's key and its stored result (a --force rerun differs)."""
    blob = json.dumps([row.config_hash, row.seed, row.metrics, row.created_at], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def log_row(client, experiment_id: str, row: ResultRow, digest: str, run_dir: Path) -> None:
    from mlflow.entities import Metric, Param

    tags = {
        "mlflow.runName": f"{row.model} | {row.method_chain} | seed {row.seed}",
        "torchslim.row": digest,
        "torchslim.config_hash": row.config_hash,
        "torchslim.run": row.run_name,
        "model": row.model,
        "dataset": row.dataset,
        "method_chain": row.method_chain,
        "seed": str(row.seed),
        "git_commit": row.git_commit,
    }
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    try:
        params = [Param(k, v[:PARAM_LIMIT]) for k, v in flatten(row.config).items()]
        now = int(row.created_at * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in scalar_metrics(row.metrics).items()]
        metrics += [
            Metric(f"epoch_{k}", float(v), now, int(h["epoch"]))
            for h in row.metrics.get("history") or []
            for k, v in h.items()
            if k != "epoch" and isinstance(v, (int, float))
        ]
        for start in range(0, max(len(params), len(metrics)), 100):  # MLflow's batch limits
            client.log_batch(run_id, metrics=metrics[start : start + 100], params=params[start : start + 100])
        client.log_dict(run_id, row.metrics.get("latency") or [], "latency.json")
        client.log_dict(
            run_id,
            {"config": row.config, "versions": row.versions, "hardware": row.hardware, "seed": row.seed},
            "provenance.json",
        )
        artifact = stored_artifact(row)
        for path in (artifact.model_path, artifact.onnx_path, artifact.folder / "task.yaml"):
            if path is not None and path.is_file():
                client.log_artifact(run_id, str(path), "artifact")
        for report in ("report.md", "report.html"):
            if (Path(run_dir) / report).is_file():
                client.log_artifact(run_id, str(Path(run_dir) / report), "report")
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "KILLED")  # a half-logged run is not taken for a mirrored one
        raise


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The row's numbers, and each latency row's median (``latency_ms.onnxruntime.cpu.b1``)."""
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for r in metrics.get("latency") or []:
        provider = str(r.get("provider", "")).removesuffix("ExecutionProvider").lower() or "eager"
        if r.get("median_ms") is not None:
            out[f"latency_ms.{r['runtime']}.{provider}.b{r['batch_size']}"] = float(r["median_ms"])
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested config as dotted keys (``train.lr``); lists as JSON."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out |= flatten(v, f"{prefix}{k}.")
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {prefix.rstrip("."): text}
