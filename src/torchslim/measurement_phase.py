"""Latency is timed after every task has finished, one artifact at a time, with nothing else of ours
running: a speed figure is never taken while other tasks train beside it. Only what a stored row
still lacks is timed, so a recipe asking for another batch size retrains nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from rich.markup import escape

from torchslim.artifacts import relocated, stored_artifact, with_absolute_folder
from torchslim.data.cache import DatasetCache
from torchslim.executors.exclusive import Exclusive, on_the_driver
from torchslim.latency_comparison import load_artifact
from torchslim.measurement.bench import BenchConfig, measure
from torchslim.models import InputSpec
from torchslim.runtimes import runtime_facts
from torchslim.runtimes.onnxruntime import onnx_providers
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task
from torchslim.ui import console


def missing_latency(row: ResultRow, m) -> set[tuple[str, int]]:
    """The (runtime, batch size) pairs a recipe's ``measure`` asks for that a stored row was not timed at."""
    if m is None or not m.latency:
        return set()
    deployed = stored_artifact(row).kind == "onnx"  # an ONNX file alone: no runtime of the PyTorch module
    have = {(x["runtime"], x["batch_size"]) for x in row.metrics.get("latency", [])}
    runtimes = [r for r in m.runtimes if not (deployed and runtime_facts(r).loads == "module")]
    return {(r, b) for r in runtimes for b in m.batch_sizes} - have


def timing_gaps(task: Task, row: ResultRow, spec: InputSpec, root: Path | None = None) -> dict | None:
    """The latency a finished task's row still lacks, timed from its saved artifact (read under ``root``
    when the timing runs on another machine): a recipe that now asks for more batch sizes or runtimes
    has only those timed, nothing is retrained, and nothing asked for stays silently unmeasured.
    Returns the row's updated latency metrics, or None when nothing is missing or the file is gone."""
    gaps = missing_latency(row, task.measure)
    row = relocated(row, root)
    artifact = stored_artifact(row)
    if not gaps or artifact.missing_file() is not None:
        return None
    m = task.measure
    cfg = BenchConfig(
        batch_sizes=sorted({b for _, b in gaps}),
        runtimes=[r for r in m.runtimes if any(g[0] == r for g in gaps)],
        precisions=m.precisions,
        threads=m.threads,
        min_seconds=m.min_seconds,
        min_runs=5,
    )
    result = measure(load_artifact(row), cfg, spec=spec, artifact=artifact.model_path or artifact.onnx_path)
    record = result.as_dict()
    added = [x for x in record["latency"] if (x["runtime"], x["batch_size"]) in gaps]
    checks = [c for c in record["deployment_checks"] if (c["runtime"], c["provider"]) not in have_checks(row)]
    return {
        "latency": row.metrics.get("latency", []) + added,
        "peak_gflops": record["peak_gflops"],
        "peaks": record["peaks"],
        "deployment_checks": row.metrics.get("deployment_checks", []) + checks,
    }


def have_checks(row: ResultRow) -> set[tuple[str, str]]:
    return {(c["runtime"], c["provider"]) for c in row.metrics.get("deployment_checks") or []}


def time_each(items: list[tuple[Task, ResultRow, InputSpec]], root: Path | None) -> list[dict | None]:
    """The timing phase's work, one artifact at a time (on the driver or on a node held whole)."""
    return [timing_gaps(task, row, spec, root) for task, row, spec in items]


def measurement_phase(tasks: list[Task], store: Store, ctx: DatasetCache, exclusive: Exclusive = on_the_driver) -> None:
    """Latency is timed here, after every task has finished and with nothing else of ours running:
    a speed figure is never taken while other tasks train beside it. ``exclusive`` says where: the
    driver, or one Ray task holding a whole node (``--executor ray``). Each row records which."""
    gaps = [
        t
        for t in tasks
        if t.facts.timed_alone and (row := store.get(t.key)) is not None and missing_latency(row, t.measure)
    ]
    if not gaps:
        return
    alone = "alone on the machine" if exclusive is on_the_driver else "on one node of the Ray cluster, held whole"
    console.print(f"[bold]measure[/bold] latency of {len(gaps)} artifact(s), one at a time, {alone}")
    if torch.cuda.is_available() and "CUDAExecutionProvider" not in onnx_providers():
        console.print(
            "measure: this onnxruntime has no CUDA provider, so ONNX Runtime is timed on the CPU only "
            "(install onnxruntime-gpu for its GPU figures); PyTorch is timed on the GPU too"
        )
    items = [(t, with_absolute_folder(store.get(t.key)), t.input_spec(ctx.dataset(t.dataset))) for t in gaps]
    updates, where = exclusive(time_each, items, [r for _, r, _ in items])
    for (t, _, _), update in zip(items, updates):
        if update is not None:
            row = store.get(t.key)  # the stored row, with its own artifact paths
            store.put(replace(row, metrics=row.metrics | update | {"latency_where": where}))
            added = update["latency"][len(row.metrics.get("latency", [])) :]
            pairs = ", ".join(f"{x['runtime']} b{x['batch_size']}" for x in added)
            console.print(f"[bold]measure[/bold] {escape(t.describe())}: {pairs} ({where})")
