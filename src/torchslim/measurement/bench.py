"""``torchslim.measure``: complexity, file size, ONNX parity and latency of one model, typed.

A target is a registry model name, a saved torchslim artifact (``model.pt``), or an ``nn.Module``.
Speedups are computed against a baseline ``Measurement`` at the same runtime, provider and batch.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from torchslim.data import BatchLoader, DatasetConfig, build_dataset
from torchslim.errors import ConfigError
from torchslim.export.checkpoint import save_atomic
from torchslim.export.onnx import ExportedOnnx, check_parity, export_onnx, ort_session
from torchslim.export.outputs import flatten_output
from torchslim.measurement.allocator import keep_freed_memory
from torchslim.measurement.complexity import Complexity, FileSize, complexity, file_size
from torchslim.measurement.deployed_accuracy import AGREEMENT
from torchslim.measurement.latency import DEFAULT_RUNTIMES, BatchSizes, LatencyRow, Runtimes
from torchslim.measurement.ratio import SpeedRatio, measure_ratios
from torchslim.measurement.roofline import matmul_peak_gflops, precision_peak_gflops
from torchslim.measurement.timing import TimingConfig, time_grouped
from torchslim.models import MODELS, InputSpec, build_model, default_input, load_model
from torchslim.runtimes import needs_onnx, runtime_facts
from torchslim.runtimes.base import check_runtimes
from torchslim.runtimes.deployed import OnnxModel
from torchslim.runtimes.onnxruntime import onnx_predictor


class BenchConfig(BaseModel):
    """How to measure: batch sizes, runtimes, input, threads and timing budget."""

    model_config = ConfigDict(extra="forbid")

    batch_sizes: BatchSizes = Field(default_factory=lambda: [1, 8], min_length=1)
    runtimes: Runtimes = Field(
        default_factory=lambda: list(DEFAULT_RUNTIMES), description="registered runtimes; empty: no latency"
    )
    precisions: list[str] = Field(
        default_factory=lambda: ["fp32"], min_length=1, description="fp32, bf16 (where a runtime offers it)"
    )
    input_size: int | None = Field(None, gt=0, le=4096, description="image side; default: the model's dataset's")
    in_channels: int | None = Field(None, gt=0)
    num_classes: int | None = Field(None, gt=1)
    threads: int | None = Field(None, gt=0, description="fixed intra-op threads (default: all cores)")
    min_seconds: float = Field(2.0, gt=0, description="timed seconds per (runtime, batch) at least")
    min_runs: int = Field(10, gt=0)
    rounds: int = Field(4, gt=0, description="interleaved timing rounds over all rows (drift hits all alike)")
    parity_tolerance: float = Field(1e-3, gt=0, description="relative to the largest output magnitude")

    @model_validator(mode="after")
    def _runnable(self) -> "BenchConfig":
        check_runtimes(self.runtimes, self.precisions)
        return self

    def timing(self) -> TimingConfig:
        return TimingConfig(min_seconds=self.min_seconds, min_runs=self.min_runs, rounds=self.rounds)


@dataclass
class Measurement:
    target: str
    input_shape: tuple[int, int, int]
    threads: int
    complexity: Complexity
    size: FileSize
    onnx_size: FileSize | None
    parity: Any  # export.onnx.Parity | None
    peak_gflops: float | None
    latency: list[LatencyRow] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # each ONNX deployment against the float network
    peaks: dict[str, float | None] = field(default_factory=dict)  # GFLOP/s per precision the rows were held to

    def row(self, runtime: str, provider: str, batch_size: int) -> LatencyRow | None:
        return next(
            (r for r in self.latency if (r.runtime, r.provider, r.batch_size) == (runtime, provider, batch_size)), None
        )

    def speedups(self, baseline: "Measurement") -> dict[tuple[str, str, int], float]:
        """Baseline median / this median, for every row the baseline also measured."""
        out = {}
        for r in self.latency:
            b = baseline.row(r.runtime, r.provider, r.batch_size)
            if b is not None:
                out[(r.runtime, r.provider, r.batch_size)] = b.timing.median_s / r.timing.median_s
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "input_shape": list(self.input_shape),
            "threads": self.threads,
            "peak_gflops": self.peak_gflops,
            "peaks": self.peaks,
            "complexity": self.complexity.as_dict(),
            "size": self.size.as_dict(),
            "onnx_size": self.onnx_size.as_dict() if self.onnx_size else None,
            "parity": self.parity.as_dict() if self.parity else None,
            "latency": [r.as_dict() for r in self.latency],
            "deployment_checks": self.checks,
        }


def resolve_target(target: str | Path | nn.Module, cfg: BenchConfig) -> tuple[nn.Module, "InputSpec", str]:
    if isinstance(target, nn.Module):
        spec = InputSpec(cfg.num_classes or 10, cfg.in_channels or 3, cfg.input_size or 224)
        return target, spec, type(target).__name__
    text = str(target)
    if text.endswith(".onnx"):
        raise ConfigError(
            f"bench measures a saved model.pt or a registry model, not an ONNX file alone ({text}): its params and "
            "MACs come from the PyTorch network; bench the model.pt beside it (its ONNX export is timed too)"
        )
    if text.endswith(".pt") or Path(text).is_file():
        model, spec = load_model(Path(text))
        if cfg.input_size and cfg.input_size != spec.image_size:
            spec = InputSpec(spec.num_classes, spec.in_channels, cfg.input_size)
        return model, spec, text
    base = default_input(text) if MODELS.split(text)[0] is None else InputSpec(10, 3, 224)
    spec = InputSpec(
        cfg.num_classes or base.num_classes, cfg.in_channels or base.in_channels, cfg.input_size or base.image_size
    )
    torch.manual_seed(0)
    return build_model(text, spec), spec, text


@functools.lru_cache(maxsize=4)
def _real_images(batch_size: int) -> torch.Tensor:
    """The first normalised test images of mnist5k, loaded once per process."""
    data = build_dataset(DatasetConfig(name="mnist5k", augment=False))
    return next(iter(BatchLoader(data.eval, data.info, batch_size)))[0]


def parity_batch(spec, batch_size: int = 8) -> torch.Tensor:
    """Real images (mnist5k's test split, embedded), resized and channel-matched to the input."""
    x = _real_images(batch_size)
    x = torch.nn.functional.interpolate(
        x, size=(spec.image_size, spec.image_size), mode="bilinear", align_corners=False
    )
    return x.repeat(1, spec.in_channels, 1, 1) if spec.in_channels != 1 else x


def row_precision(runtime: str, provider: str, cfg: BenchConfig) -> str:
    """What a (runtime, variant) row computes in for a float model: its variant's precision."""
    for variant in runtime_facts(runtime).variants(tuple(cfg.precisions)):
        if variant.provider == provider:
            return variant.precision if variant.precision in ("bf16", "fp16") else "fp32"
    return "fp32"


def latency_runners(model: nn.Module, spec, cfg: BenchConfig, onnx_path: Path | None, threads: int):
    """((runtime, provider, batch) keys, timed callables) for every latency row ``cfg`` asks for: each
    registered runtime's variants, on the module or on its ONNX file (an INT8 file has no module)."""
    deployed = isinstance(model, OnnxModel)
    keys, runners = [], []
    for bs in cfg.batch_sizes:
        batch = torch.randn(bs, *spec.shape, generator=torch.Generator().manual_seed(bs))
        for name in cfg.runtimes:
            runtime = runtime_facts(name)
            source = onnx_path if runtime.loads == "onnx" else None if deployed else model
            if source is None:
                continue
            for variant in runtime.variants(tuple(cfg.precisions)):
                keys.append((name, variant.provider, bs))
                runners.append(variant.make(source, batch, threads))
    return keys, runners


CHECK_IMAGES = 64  # real images; a deployment that is not the float network in FP32 must agree on AGREEMENT


@torch.no_grad()
def deployment_checks(
    network: nn.Module, deployed: bool, onnx_path: Path, spec, cfg: BenchConfig, threads: int
) -> list[dict[str, Any]]:
    """Every ONNX deployment asked for (runtime x variant) run on real images against the float
    network: an FP32 file in FP32 by parity (``parity_tolerance`` of the output scale), anything else
    (an INT8 file, BF16) by top-1 agreement (``AGREEMENT``). An INT8 file read back alone (the
    measurement phase keeps no float network beside it) is checked against ONNX Runtime on the same
    file. A model with several outputs is checked by parity on each (its outputs need not be class
    scores). A failed check is recorded, not raised: the report marks the deployment."""
    x = parity_batch(spec, CHECK_IMAGES)
    alone = deployed and isinstance(network, nn.Identity)  # an INT8 file read back without its float network
    against = ("onnxruntime", "CPUExecutionProvider") if alone else None
    if alone:
        refs = onnx_predictor(onnx_path, threads)(x.numpy())
    else:
        refs = [t.float().numpy() for _, t in flatten_output(network.eval()(x))]
    ref = refs[0]
    several = len(refs) > 1 or ref.ndim != 2
    out = []
    for name in cfg.runtimes:
        runtime = runtime_facts(name)
        if runtime.loads != "onnx":
            continue
        for variant in runtime.variants(tuple(cfg.precisions)):
            if variant.predictor is None or (name, variant.provider) == against:
                continue
            outs = [np.asarray(o, dtype=np.float32) for o in variant.predictor(onnx_path, threads)(x.numpy())]
            got = outs[0]
            same = len(outs) == len(refs) and all(o.shape == r.shape for o, r in zip(outs, refs))
            diff = max(float(np.max(np.abs(o - r))) for o, r in zip(outs, refs)) if same else float("inf")
            agreement = float((got.argmax(1) == ref.argmax(1)).mean()) if same and not several else 0.0
            exact = several or (not deployed and variant.precision in ("fp32", "file"))
            tolerance = cfg.parity_tolerance * max(1.0, max(float(np.max(np.abs(r))) for r in refs))
            out.append(
                {
                    "runtime": name,
                    "provider": variant.provider,
                    "check": "parity" if exact else "top-1 agreement",
                    "against": "ONNX Runtime, the same file" if alone else "the float network",
                    "max_abs_diff": diff,
                    "tolerance": tolerance,
                    "agreement": agreement,
                    "images": len(x),
                    "ok": diff <= tolerance if exact else agreement >= AGREEMENT,
                }
            )
    return out


def speedup_intervals(
    target: str | Path | nn.Module,
    baseline: str | Path | nn.Module,
    cfg: BenchConfig,
    rel_width: float = 0.05,
    reference: dict[int, tuple[str, str]] | None = None,
) -> tuple[dict[tuple[str, str, int], SpeedRatio], dict[tuple[str, str, int], SpeedRatio]]:
    """The baseline's time over the target's for every (runtime, provider, batch) both run, timed
    side by side in alternating rounds, each with its 95 % interval (``measurement.ratio``); and,
    in the same rounds, the baseline in ``reference[batch]`` (its fastest deployment) over the target
    in each deployment: the honest reference."""
    ratios, _ = paired_ratios(
        {"base": baseline, "target": target}, [("base", "target")], cfg, rel_width, reference=reference
    )
    same = {k: r for (a, _, k), r in ratios.items() if a == "base"}
    fastest = {k: r for (a, _, k), r in ratios.items() if a != "base"}
    return same, fastest


def fastest_rows(m: Measurement) -> dict[int, tuple[str, str]]:
    """{batch: (runtime, provider)} of ``m``'s fastest CPU deployment at each batch."""
    best: dict[int, LatencyRow] = {}
    for r in m.latency:
        if "cuda" in r.provider.lower():
            continue
        if r.batch_size not in best or r.timing.median_s < best[r.batch_size].timing.median_s:
            best[r.batch_size] = r
    return {b: (r.runtime, r.provider) for b, r in best.items()}


def paired_ratios(
    targets: dict[str, str | Path | nn.Module],
    pairs: list[tuple[str, str]],
    cfg: BenchConfig,
    rel_width: float = 0.05,
    budget_s: float | None = None,
    reference: dict[int, tuple[str, str]] | None = None,
) -> tuple[dict[tuple[str, str, tuple], SpeedRatio], dict[tuple[str, tuple], float]]:
    """Several models timed together in alternating rounds: for each ``(a, b)`` pair and each
    (runtime, provider, batch) both run, a's time over b's with its 95 % interval; and each model's
    median of its per-round medians, in ms, keyed ``(label, (runtime, provider, batch))``. With
    ``reference`` ({batch: (runtime, provider)}), also a in that deployment over b in each of its
    own, keyed ``(a + "@reference", b, key)``."""
    threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    runners: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tag, t in targets.items():
            model, spec, _ = resolve_target(t, cfg)
            model.eval()
            onnx_path = model.onnx_path if isinstance(model, OnnxModel) else None
            if onnx_path is None and needs_onnx(cfg.runtimes):
                onnx_path = Path(tmp) / f"{len(runners)}.onnx"
                export_onnx(model, torch.zeros(1, *spec.shape), onnx_path)
            keys, fns = latency_runners(model, spec, cfg, onnx_path, threads)
            runners.update({json.dumps([tag, *k]): f for k, f in zip(keys, fns)})
        rows = [(a, b, tuple(json.loads(k)[1:])) for a, b in pairs for k in runners if json.loads(k)[0] == b]
        pairs_of = {(a, b, k): (json.dumps([a, *k]), json.dumps([b, *k])) for a, b, k in rows}
        pairs_of = {key: p for key, p in pairs_of.items() if p[0] in runners}
        for a, b, k in rows if reference else []:
            if k[2] in reference and json.dumps([a, *reference[k[2]], k[2]]) in runners:
                pairs_of[(a + "@reference", b, k)] = (json.dumps([a, *reference[k[2]], k[2]]), json.dumps([b, *k]))
        timed = {t for p in pairs_of.values() for t in p}
        budget = budget_s if budget_s is not None else max(10.0, cfg.min_seconds * 4 * len(pairs_of))
        ratios, times = measure_ratios(
            {k: f for k, f in runners.items() if k in timed},
            list(dict.fromkeys(pairs_of.values())),
            rel_width=rel_width,
            budget_s=budget,
        )
    out = {key: ratios[p] for key, p in pairs_of.items()}
    medians = {(json.loads(k)[0], tuple(json.loads(k)[1:])): statistics.median(v) * 1e3 for k, v in times.items()}
    return out, medians


def measure(
    target: str | Path | nn.Module,
    cfg: BenchConfig | None = None,
    spec: "InputSpec | None" = None,
    artifact: Path | None = None,
    onnx: ExportedOnnx | None = None,
) -> Measurement:
    """Measure ``target``: params, MACs, file sizes, ONNX parity, and latency per runtime and batch.

    ``spec`` gives the input of an ``nn.Module`` target; ``artifact`` is the saved file whose size
    is reported (default: a dense state dict written to a temporary folder); ``onnx`` is the
    model's ONNX export when the caller made one (default: exported to a temporary folder when
    ONNX Runtime is measured, and deleted afterwards).
    """
    cfg = cfg or BenchConfig()
    keep_freed_memory()
    model, resolved, label = resolve_target(target, cfg)
    spec = spec or resolved
    model.eval()
    deployed = isinstance(model, OnnxModel)  # an ONNX Runtime artifact (INT8): no torch runtime, no export
    network = model.reference if deployed else model
    threads = cfg.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = artifact or (model.onnx_path if deployed else folder / "weights.pt")
        if artifact is None and not deployed:
            save_atomic({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
        result = Measurement(
            target=label,
            input_shape=spec.shape,
            threads=threads,
            complexity=complexity(network, spec.shape),
            size=file_size(weights),
            onnx_size=None,
            parity=None,
            # a timing too: taken only when latency is (never inside a task that trains beside others)
            peak_gflops=matmul_peak_gflops(threads) if cfg.runtimes else None,
        )
        gflops = result.complexity.flops / 1e9
        onnx_path = None
        if deployed:
            onnx_path = model.onnx_path
            result.onnx_size = file_size(onnx_path)
        elif onnx is not None or needs_onnx(cfg.runtimes):
            if onnx is None:
                path = folder / "model.onnx"
                onnx = ExportedOnnx(path, export_onnx(model, torch.zeros(1, *spec.shape), path))
            onnx_path = onnx.path
            result.onnx_size = file_size(onnx_path)
            result.parity = check_parity(
                model, ort_session(onnx_path, threads), parity_batch(spec), onnx.exporter, cfg.parity_tolerance
            )
        if onnx_path is not None and cfg.runtimes:
            result.checks = deployment_checks(network, deployed, onnx_path, spec, cfg, threads)
        keys, runners = latency_runners(model, spec, cfg, onnx_path, threads)
        timings = time_grouped(runners, cfg.timing(), [(runtime, provider) for runtime, provider, _ in keys])
        low_bit = deployed  # an ONNX file alone is a quantized one (INT8, or Brevitas' QCDQ on INT8 kernels)
        for (runtime, provider, bs), t in zip(keys, timings):
            kind = "int8" if low_bit else row_precision(runtime, provider, cfg)
            peak = result.peak_gflops if kind == "fp32" else precision_peak_gflops(kind, threads)
            result.peaks[kind] = peak
            result.latency.append(LatencyRow(runtime, provider, bs, threads, t, gflops, peak, kind))
    return result
