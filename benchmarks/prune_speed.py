"""Does structured pruning give real speed? torchvision ResNets and depthwise networks at 224, ratio 0.5.

Usage: python benchmarks/prune_speed.py [--min-seconds 2] [--width 0.05]
Each pruned model is timed against its dense original side by side in one process, in alternating
rounds (``measurement.ratio``), in ONNX Runtime and torch eager at batch 1 and 8. Efficiency =
measured speedup / MACs reduction (1.0 = speed follows MACs exactly), with the speedup's 95 %
interval divided by the same exact reduction. Targets for ONNX Runtime at batch 8: >= 0.85 for the
ResNets, >= 0.7 for MobileNetV2/V3 and EfficientNet-B0 (raw Torch-Pruning gave MobileNetV2 0.53).
Weights are random: this measures speed, not accuracy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from _common import MachineWatch, write_section

from torchslim.data import DatasetConfig, build_dataset
from torchslim.export.checkpoint import save_model
from torchslim.measurement.bench import BenchConfig, speedup_intervals
from torchslim.measurement.complexity import count_flops
from torchslim.measurement.ratio import verdict
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, ModelConfig, build_model, describe
from torchslim.report.tables import markdown_table
from torchslim.train import TrainConfig

TARGETS = {
    "torchvision:resnet18": 0.85,
    "torchvision:resnet50": 0.85,
    "torchvision:mobilenet_v2": 0.7,
    "torchvision:mobilenet_v3_large": 0.7,
    "torchvision:efficientnet_b0": 0.7,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-seconds", type=float, default=2.0, help="timing budget per ratio is 4x this")
    ap.add_argument("--width", type=float, default=0.05)
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    watch = MachineWatch(threads)
    cfg = BenchConfig(batch_sizes=[1, 8], input_size=224, min_seconds=args.min_seconds)
    spec = InputSpec(1000, 3, 224)
    data = build_dataset(DatasetConfig(name="synthetic", shape=(3, 224, 224), size=16))
    rows, verdicts = [], []
    for name, target in TARGETS.items():
        short = name.split(":")[1]
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            model = build_model(name, spec).eval()
            ctx = MethodContext(data, spec, TrainConfig(), 0, Path(tmp))
            chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}})
            pruned = apply_chain(build_model(name, spec).eval(), chain, ctx).eval()
            save_model(pruned, Path(tmp) / "pruned.pt", describe(ModelConfig(name=name), spec))
            reduction = count_flops(model, spec.shape) / count_flops(pruned, spec.shape)
            intervals, _ = speedup_intervals(Path(tmp) / "pruned.pt", model, cfg, rel_width=args.width)
        for (runtime, provider, bs), s in sorted(intervals.items()):
            eff = (s.ratio / reduction, s.low / reduction, s.high / reduction)
            rows.append(
                [
                    short,
                    runtime,
                    bs,
                    f"{reduction:.2f}x",
                    s.text(),
                    f"{eff[0]:.2f} ({eff[1]:.2f}–{eff[2]:.2f})",
                    str(s.rounds) + ("" if s.converged else " (wider than asked)"),
                ]
            )
            if runtime == "onnxruntime" and bs == 8:
                verdicts.append(f"{short} {verdict(eff[1], eff[2], target)} (target >= {target:g}, {rows[-1][5]})")
    body = (
        "## Structured pruning speed: ResNet-18/50, MobileNetV2/V3, EfficientNet-B0, 224x224, ratio 0.5\n\n"
        "`prune.structured` L1 at ratio 0.5 (output layer kept; on depthwise networks the default "
        "`depthwise: auto` rule cuts the hidden widths that pass through a depthwise conv and keeps the residual "
        "widths), random weights, saved and reloaded as a torchslim artifact. Dense and pruned timed side by side "
        "in one process in alternating rounds until the speedup's 95 % interval is within "
        f"±{100 * args.width:.0f} % or {4 * args.min_seconds:g} s per ratio are spent; {threads} threads. "
        "Efficiency = speedup / MACs reduction, with the interval of the speedup. A verdict is `met` only "
        "when the whole interval clears the target.\n\n"
        + markdown_table(
            ["Model", "Runtime", "Batch", "MACs reduction", "Speedup (95 % CI)", "Efficiency (95 % CI)", "Rounds"],
            rows,
            "llrrrrr",
        )
        + "\n\nONNX Runtime batch 8 efficiency: "
        + "; ".join(verdicts)
        + ".\n"
        + watch.stop().text()
    )
    write_section("prune-speed", body)
    print(body)


if __name__ == "__main__":
    main()
