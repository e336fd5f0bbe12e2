"""How fast can a pruned ResNet-20 run at 32x32, batch 8, in ONNX Runtime? Channel cuts against block removal.

Usage: python benchmarks/resnet20_speed_floor.py [--min-seconds 1] [--width 0.03]
Builds CIFAR ResNet-20 at the widths and block counts a pruner could leave (random weights, batch-norm
statistics from a few random batches: this measures speed, not accuracy), each in float and as ORT
static INT8 (the pipeline of ``quant.static``: ORT pre-processing, then QDQ with per-channel weights),
and times every one against the original float model side by side in one process. Why: the CIFAR-10
search target (2.5x at batch 8) needs to know where channel pruning stops paying. Writes the section
``resnet20-speed-floor`` of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from _common import MachineWatch, write_section
from torch import nn

from torchslim.export.onnx import export_onnx
from torchslim.measurement.bench import BenchConfig, paired_ratios
from torchslim.measurement.complexity import count_flops
from torchslim.models.base import InputSpec
from torchslim.models.resnet_cifar import CifarResNet
from torchslim.quant.ort_tools import quantize_static_onnx
from torchslim.report.tables import markdown_table
from torchslim.runtimes.deployed import OnnxModel

SHAPE = (3, 32, 32)
#: (label, blocks per stage, stage widths): what channel pruning (widths) and block removal (blocks) leave
VARIANTS = [
    ("original", (3, 3, 3), (16, 32, 64)),
    ("channels: 16/32/32", (3, 3, 3), (16, 32, 32)),
    ("channels: 16/16/32", (3, 3, 3), (16, 16, 32)),
    ("channels: 16/16/16", (3, 3, 3), (16, 16, 16)),
    ("channels: 8/16/32 (half)", (3, 3, 3), (8, 16, 32)),
    ("channels: 8/8/16", (3, 3, 3), (8, 8, 16)),
    ("channels: 8/8/8", (3, 3, 3), (8, 8, 8)),
    ("blocks: 3 removed", (2, 2, 2), (16, 32, 64)),
    ("blocks: 3 removed, channels 16/16/32", (2, 2, 2), (16, 16, 32)),
    ("blocks: 6 removed", (1, 1, 1), (16, 32, 64)),
]


def build(blocks: tuple[int, ...], widths: tuple[int, ...], batches: list[torch.Tensor]) -> nn.Module:
    torch.manual_seed(0)
    model = CifarResNet(InputSpec(10, 3, 32), blocks, widths, zero_init_residual=False).train()
    with torch.no_grad():
        for x in batches:  # batch-norm statistics of a plausible scale, so INT8 ranges are ordinary
            model(x)
    return model.eval()


def int8(model: nn.Module, batches: list[torch.Tensor], folder: Path, tag: str) -> OnnxModel:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    raw, prep = folder / f"{tag}.onnx", folder / f"{tag}.prep.onnx"
    export_onnx(model, torch.zeros(1, *SHAPE), raw)
    quant_pre_process(str(raw), str(prep), skip_symbolic_shape=True)
    return OnnxModel(quantize_static_onnx(prep, folder / f"{tag}.int8.onnx", batches), model, "int8-static")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--width", type=float, default=0.03, help="target relative width of each 95 %% interval")
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    watch = MachineWatch(threads)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(16, *SHAPE, generator=gen) for _ in range(4)]
    cfg = BenchConfig(
        batch_sizes=[8], runtimes=["onnxruntime"], input_size=32, threads=threads, min_seconds=args.min_seconds
    )
    with tempfile.TemporaryDirectory() as tmp:
        targets: dict[str, nn.Module] = {}
        macs = {}
        for i, (label, blocks, widths) in enumerate(VARIANTS):
            model = build(blocks, widths, batches)
            macs[label] = count_flops(model, SHAPE)
            targets[f"{label}|float"] = model
            targets[f"{label}|int8"] = int8(model, batches, Path(tmp), str(i))
        base = f"{VARIANTS[0][0]}|float"
        pairs = [(base, k) for k in targets if k != base]
        ratios, ms = paired_ratios(targets, pairs, cfg, rel_width=args.width)
    key = ("onnxruntime", "CPUExecutionProvider", 8)
    speed = {b: r for (a, b, k), r in ratios.items() if k == key}
    rows = []
    for label, blocks, widths in VARIANTS:
        cells = []
        for kind in ("float", "int8"):
            tag = f"{label}|{kind}"
            cells.append("1.00×" if tag == base else speed[tag].text())
        rows.append(
            [
                label,
                "/".join(map(str, blocks)),
                "/".join(map(str, widths)),
                f"{macs[label] / macs[VARIANTS[0][0]]:.2f}",
                *cells,
            ]
        )
    widths_only = [v for v in VARIANTS[1:] if v[1] == (3, 3, 3)]
    best_width = max((speed[f"{v[0]}|{k}"].ratio, v[0], k) for v in widths_only for k in ("float", "int8"))
    depth = [v for v in VARIANTS if v[1] != (3, 3, 3)]
    best_depth = max((speed[f"{v[0]}|{k}"].ratio, v[0], k) for v in depth for k in ("float", "int8"))
    eight_wide = [v[0] for v in widths_only if min(v[2]) == 8]
    slower_int8 = sum(speed[f"{v}|int8"].ratio < speed[f"{v}|float"].ratio for v in eight_wide)
    body = (
        "## ResNet-20's speed floor at 32x32: channel cuts against block removal (ONNX Runtime, batch 8)\n\n"
        "CIFAR ResNet-20 rebuilt at the stage widths and blocks per stage that pruning could leave, random "
        "weights, each in float and as ORT static INT8 (`quant.static`'s pipeline: ORT pre-processing, QDQ, "
        f"per-channel weights), timed against the original float model side by side in one process, {threads} "
        f"threads, until each speedup's 95 % interval is within ±{100 * args.width:g} % or its time budget is "
        "spent. MACs are of the float model, as a fraction of the original's.\n\n"
        + markdown_table(
            [
                "Variant",
                "Blocks per stage",
                "Stage widths",
                "MACs",
                "Float speedup (95 % CI)",
                "INT8 speedup (95 % CI)",
            ],
            rows,
            "lllrrr",
        )
        + f"\n\nFastest channel-only variant: {best_width[1]} ({best_width[2]}), {best_width[0]:.2f}x; "
        f"fastest with blocks removed: {best_depth[1]} ({best_depth[2]}), {best_depth[0]:.2f}x. "
        + (
            "Channel cuts stop paying long before the MACs run out: what is left is per-layer work (memory "
            "traffic of 32x32 activations, layout reorders, operator dispatch) that only fewer layers remove. "
            if best_width[0] < best_depth[0]
            else "Here channel cuts alone went as far as block removal. "
        )
        + f"Variants with 8-wide stages whose INT8 model ran slower than their float model: {slower_int8} of "
        f"{len(eight_wide)}.\n" + watch.stop().text()
    )
    write_section("resnet20-speed-floor", body)
    print(body)


if __name__ == "__main__":
    main()
