"""The report's GPU latency table, present only when a run's artifacts were timed on a GPU.

The CPU tables stay CPU-only (a GPU median beside a CPU one would compare machines, not models).
Here each entry's PyTorch CUDA latency (CUDA events after warm-up) sits beside ONNX Runtime's CUDA
provider. Where onnxruntime had no CUDA provider the cell says so, with the version the row
recorded: ``onnx_providers`` times that provider whenever torch and onnxruntime both see a GPU, so
a row with CUDA timings and none from the provider comes from a CPU-only onnxruntime.
"""

from __future__ import annotations

import statistics

from torchslim.report.document import Section, Text
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.method_tables import times
from torchslim.report.tables import Table

GPU_PROVIDERS = {"torch": "eager-cuda", "onnxruntime": "CUDAExecutionProvider"}


def gpu_ms(e: Entry, runtime: str, batch: int) -> float | None:
    """The median over seeds of each task's own GPU median, or None."""
    values = [
        x["median_ms"]
        for r in e.rows
        for x in r.metrics.get("latency", [])
        if x["runtime"] == runtime and x["batch_size"] == batch and x.get("provider") == GPU_PROVIDERS[runtime]
    ]
    return statistics.median(values) if values else None


def timed_on_gpu(e: Entry) -> bool:
    return any(x.get("provider") == "eager-cuda" for r in e.rows for x in r.metrics.get("latency", []))


def why_not(e: Entry, runtime: str) -> str:
    """Why a GPU cell is empty, in words: never a blank or a placeholder."""
    if runtime == "onnxruntime" and timed_on_gpu(e):
        version = e.rows[0].versions.get("onnxruntime", "?")
        return f"no CUDA provider in onnxruntime {version}"
    if runtime == "torch" and e.artifact is not None and e.artifact.kind == "onnx":
        return "n/a (ONNX INT8)"
    return "not timed on a GPU"


def gpu_cell(group: ModelGroup, e: Entry, runtime: str, batch: int) -> str:
    own = gpu_ms(e, runtime, batch)
    if own is None:
        return why_not(e, runtime)
    ref = gpu_ms(group.baseline, runtime, batch) if group.baseline else None
    if ref is None or e is group.baseline:
        return f"{own:.3f} ms"
    return f"{own:.3f} ms ({times(ref / own)})"


def gpu_table(group: ModelGroup) -> Table | None:
    entries = [e for e in group.measured if timed_on_gpu(e) or e.is_baseline]
    if not any(timed_on_gpu(e) for e in entries):
        return None
    batches = group.batch_sizes
    headers = ["Method", "Compression"]
    headers += [f"{name} b{b}" for b in batches for name in ("PyTorch CUDA", "ORT CUDA")]
    rows = [
        [e.method, e.compression] + [gpu_cell(group, e, rt, b) for b in batches for rt in ("torch", "onnxruntime")]
        for e in entries
    ]
    device = next((r.metrics.get("device_name") for e in entries for r in e.rows if r.metrics.get("device_name")), "")
    return Table(headers, rows, "ll" + "r" * (len(headers) - 2), title=f"{group.model} on {group.dataset} · {device}")


def gpu_sections(groups: list[ModelGroup]) -> list[Section]:
    tables = [t for g in groups if (t := gpu_table(g)) is not None]
    if not tables:
        return []
    note = Text(
        "Median latency on the GPU (PyTorch: CUDA events after warm-up), with the speedup against the original "
        "on the same runtime. Each task's own median, timed after all tasks, one model at a time."
    )
    return [Section("Latency on the GPU", [note, *tables])]
