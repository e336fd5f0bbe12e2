"""Does structured pruning give real speed? torchvision ResNet-18/50 at 224, 50 % of channels removed.

Usage: python benchmarks/prune_speed.py [--min-seconds 3]
Baseline and pruned model are measured side by side in one process (ONNX Runtime and torch eager,
batch 1 and 8). Efficiency = measured speedup / MACs reduction (1.0 = speed follows MACs exactly;
target >= 0.85 for ONNX Runtime at batch 8). Weights are random: this measures speed, not accuracy.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from _common import write_section

from torchslim.data import DatasetConfig, build_dataset
from torchslim.export.checkpoint import save_model
from torchslim.measurement.bench import BenchConfig, measure
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, ModelConfig, build_model, describe
from torchslim.report.tables import markdown_table
from torchslim.train import TrainConfig

MODELS = ("torchvision:resnet18", "torchvision:resnet50")
TARGET = 0.85


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-seconds", type=float, default=3.0)
    args = ap.parse_args()
    cfg = BenchConfig(batch_sizes=[1, 8], input_size=224, min_seconds=args.min_seconds)
    spec = InputSpec(1000, 3, 224)
    data = build_dataset(DatasetConfig(name="synthetic", shape=(3, 224, 224), size=16))
    rows, verdicts = [], []
    for name in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            torch.manual_seed(0)
            model = build_model(name, spec).eval()
            chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}})
            pruned = apply_chain(
                build_model(name, spec).eval(), chain, MethodContext(data, spec, TrainConfig(), 0, Path(tmp))
            ).eval()
            save_model(pruned, Path(tmp) / "pruned.pt", describe(ModelConfig(name=name), spec))
            base = measure(model, cfg, spec=spec)
            small = measure(Path(tmp) / "pruned.pt", cfg)
        reduction = base.complexity.macs / small.complexity.macs
        for (runtime, provider, bs), speedup in small.speedups(base).items():
            eff = speedup / reduction
            b, s = base.row(runtime, provider, bs), small.row(runtime, provider, bs)
            rows.append(
                [
                    name.split(":")[1],
                    runtime,
                    bs,
                    f"{b.median_ms:.2f}",
                    f"{s.median_ms:.2f}",
                    f"{100 * b.timing.spread:.0f}% / {100 * s.timing.spread:.0f}%",
                    f"{reduction:.2f}x",
                    f"{speedup:.2f}x",
                    f"{eff:.2f}",
                ]
            )
            if runtime == "onnxruntime" and bs == 8:
                verdicts.append(f"{name.split(':')[1]} {eff:.2f} ({'met' if eff >= TARGET else 'NOT met'})")
    body = (
        "## Structured pruning speed: torchvision ResNet-18/50, 224x224, 50 % of channels removed\n\n"
        "Torch-Pruning L1 at ratio 0.5 (output layer kept), random weights, saved and reloaded as a torchslim "
        "artifact. Baseline and pruned measured side by side in one process; medians of >= "
        f"{args.min_seconds:g} s of timed runs. Efficiency = speedup / MACs reduction.\n\n"
        + markdown_table(
            [
                "Model",
                "Runtime",
                "Batch",
                "Dense ms",
                "Pruned ms",
                "Spread dense / pruned",
                "MACs reduction",
                "Speedup",
                "Efficiency",
            ],
            rows,
            "llrrrrrrr",
        )
        + f"\n\nONNX Runtime batch 8 efficiency (target >= {TARGET}): {', '.join(verdicts)}."
    )
    write_section("prune-speed", body)
    print(body)


if __name__ == "__main__":
    main()
