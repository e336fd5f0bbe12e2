"""INT8 static (ONNX Runtime QDQ) against FP32, and pruning + INT8 against eager FP32 PyTorch.

Usage: python benchmarks/int8_speed.py [--min-seconds 4] [--batch 8]
torchvision ResNet-18/50 at 224x224 with random weights (this measures speed and size, not
accuracy), calibrated on 64 synthetic images. Every variant of one model is timed in the same
process in interleaved rounds, so the ratios compare like with like on a shared machine.
Targets: static INT8 >= 2.8x faster than FP32 in ONNX Runtime at batch 8, file <= 30 % of FP32;
ResNet-18 pruned 50 % (channels) + static INT8 >= 10x faster than eager FP32 PyTorch at batch 8.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from _common import write_section

from torchslim.data import DatasetConfig, build_dataset
from torchslim.export.onnx import export_onnx
from torchslim.measurement.allocator import keep_freed_memory
from torchslim.measurement.complexity import count_flops
from torchslim.measurement.latency import onnx_runner, torch_runner
from torchslim.measurement.timing import TimingConfig, time_interleaved
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, build_model
from torchslim.report.tables import markdown_table
from torchslim.train import TrainConfig

MODELS = ("torchvision:resnet18", "torchvision:resnet50")
SPEED_TARGET, SIZE_TARGET, CHAIN_TARGET = 2.8, 0.30, 10.0


def variants(name: str, spec: InputSpec, data, tmp: Path) -> dict:
    """name -> (onnx path or None for eager torch, module for MACs)."""
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    fp32 = export_onnx(model, torch.zeros(1, *spec.shape), tmp / "fp32.onnx") and tmp / "fp32.onnx"
    out = {"FP32 eager (torch)": (None, model), "FP32 (ORT)": (fp32, model)}
    ctx = MethodContext(data, spec, TrainConfig(), 0, tmp / "static")
    ctx.workdir.mkdir()
    q = apply_chain(build_model(name, spec).eval(), Chain.parse({"quant.static": {"calibration_samples": 64}}), ctx)
    out["INT8 static (ORT)"] = (q.onnx_path, model)
    if name.endswith("resnet18"):
        ctx = MethodContext(data, spec, TrainConfig(), 0, tmp / "chain")
        ctx.workdir.mkdir()
        torch.manual_seed(0)
        chain = Chain.parse(
            [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}, {"quant.static": {"calibration_samples": 64}}]
        )
        pq = apply_chain(build_model(name, spec).eval(), chain, ctx)
        out["pruned 50 % + INT8 static (ORT)"] = (pq.onnx_path, pq.reference)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-seconds", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    keep_freed_memory()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    spec = InputSpec(1000, 3, 224)
    data = build_dataset(DatasetConfig(name="synthetic", shape=(3, 224, 224), size=80))
    rows, verdicts = [], []
    for name in MODELS:
        short = name.split(":")[1]
        with tempfile.TemporaryDirectory() as tmp:
            found = variants(name, spec, data, Path(tmp))
            batch = torch.randn(args.batch, *spec.shape, generator=torch.Generator().manual_seed(0))
            runners = [
                torch_runner(m, batch, threads) if p is None else onnx_runner(p, batch, threads, "CPUExecutionProvider")
                for p, m in found.values()
            ]
            timings = dict(
                zip(found, time_interleaved(runners, TimingConfig(min_seconds=args.min_seconds, min_runs=10, rounds=4)))
            )
            eager, ort32 = timings["FP32 eager (torch)"].median_s, timings["FP32 (ORT)"].median_s
            fp32_bytes = found["FP32 (ORT)"][0].stat().st_size
            for label, (path, module) in found.items():
                t = timings[label]
                size = path.stat().st_size if path else None
                rows.append(
                    [
                        short,
                        label,
                        f"{t.median_s * 1e3:.2f}",
                        f"{100 * t.spread:.0f}%",
                        f"{ort32 / t.median_s:.2f}x",
                        f"{eager / t.median_s:.2f}x",
                        f"{size / 1e6:.2f}" if size else "state dict",
                        f"{100 * size / fp32_bytes:.0f}%" if size else "—",
                        f"{count_flops(module, spec.shape) / 2e9:.2f}",
                    ]
                )
            s = ort32 / timings["INT8 static (ORT)"].median_s
            r = found["INT8 static (ORT)"][0].stat().st_size / fp32_bytes
            verdicts.append(
                f"{short}: INT8 static {s:.2f}x faster than FP32 ORT (target >= {SPEED_TARGET}: "
                f"{'met' if s >= SPEED_TARGET else 'NOT met'}), file {100 * r:.0f}% of FP32 "
                f"(target <= {100 * SIZE_TARGET:.0f}%: {'met' if r <= SIZE_TARGET else 'NOT met'})"
            )
            if "pruned 50 % + INT8 static (ORT)" in timings:
                c = eager / timings["pruned 50 % + INT8 static (ORT)"].median_s
                verdicts.append(
                    f"{short}: pruned 50 % + INT8 static {c:.2f}x faster than eager FP32 PyTorch "
                    f"(target >= {CHAIN_TARGET:.0f}x: {'met' if c >= CHAIN_TARGET else 'NOT met'})"
                )
    body = (
        f"## INT8 static quantization speed and size: torchvision ResNet-18/50, 224x224, batch {args.batch}\n\n"
        "ONNX Runtime static INT8 (QDQ, per-channel INT8 weights, UINT8 activations, MinMax calibration on 64 "
        "synthetic images) against the FP32 export of the same network; random weights (speed and size only). "
        f"All variants of a model are timed in one process in 4 interleaved rounds, >= {args.min_seconds:g} s each, "
        f"{threads} threads. Spread = (p90 - p10) / median.\n\n"
        + markdown_table(
            [
                "Model",
                "Variant",
                f"Median ms (b{args.batch})",
                "Spread",
                "Speedup vs FP32 ORT",
                "Speedup vs FP32 eager",
                "File (MB)",
                "File vs FP32 ONNX",
                "GMACs/img",
            ],
            rows,
            "llrrrrrrr",
        )
        + "\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
    )
    write_section("int8-speed", body)
    print(body)


if __name__ == "__main__":
    main()
