"""Latency of several models side by side: one process, interleaved rounds, same batch and threads.

Per-task latencies are measured whenever a task finishes, so on a shared machine two tasks may
have met different loads; a speedup quoted between them should come from this instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from torchslim.export.onnx import export_onnx
from torchslim.measurement.allocator import keep_freed_memory
from torchslim.measurement.timing import Timing, TimingConfig, time_grouped
from torchslim.runtimes import needs_onnx, runtime_facts
from torchslim.runtimes.deployed import OnnxModel


def side_by_side(
    models: dict[str, nn.Module],
    shape: tuple[int, int, int],
    batch_sizes: list[int],
    runtimes: tuple[str, ...] = ("torch", "onnxruntime"),
    timing: TimingConfig = TimingConfig(min_seconds=2.0, rounds=4),
    threads: int | None = None,
    precisions: tuple[str, ...] = ("fp32",),
) -> dict[tuple[str, str, str, int], Timing]:
    """{(label, runtime, variant, batch): Timing} for every model in every runtime and variant (an
    OpenVINO BF16 hint beside its FP32), timed together in interleaved rounds, each deployment's
    models one after the other: models are compared within a deployment, and every deployment's
    rounds pair up with the original's fastest one for the report's honest reference."""
    keep_freed_memory()
    threads = threads or os.cpu_count() or 1
    keys, runners = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for bs in batch_sizes:
            batch = torch.randn(bs, *shape, generator=torch.Generator().manual_seed(bs))
            for label, model in models.items():
                model.eval()
                deployed = isinstance(model, OnnxModel)
                path = model.onnx_path if deployed else None
                if path is None and needs_onnx(runtimes):
                    path = Path(tmp) / f"{len(keys)}.onnx"
                    export_onnx(model, torch.zeros(1, *shape), path)
                for name in runtimes:
                    runtime = runtime_facts(name)
                    source = path if runtime.loads == "onnx" else None if deployed else model
                    if source is None:
                        continue
                    for variant in runtime.variants(precisions):
                        keys.append((label, name, variant.provider, bs))
                        runners.append(variant.make(source, batch, threads))
        return dict(zip(keys, time_grouped(runners, timing, [(rt, v) for _, rt, v, _ in keys])))


def first_variants(timed: dict[tuple[str, str, str, int], Timing]) -> dict[tuple[str, str, int], Timing]:
    """{(label, runtime, batch): Timing} of each runtime's first variant (its CPU FP32 row), for
    tables that have one column per runtime."""
    first: dict[tuple[str, str], str] = {}
    out = {}
    for (label, runtime, variant, bs), t in timed.items():
        if first.setdefault((runtime, str(bs)), variant) == variant:
            out[(label, runtime, bs)] = t
    return out
