"""ResNet-20 on the real CIFAR-10 images in ../shared: 85 % val top-1 in <= 15 epochs? And pruned to
half the MACs, does it stay within 1.5 points after fine-tuning?

Usage: python benchmarks/cifar10_resnet20.py [--force] [--baseline-only] [key=value overrides]
(or `make bench-cifar`). --baseline-only runs configs/benchmark/cifar10jpg_resnet20.yaml alone.
Runs configs/compare/cifar10jpg_resnet20_pruning.yaml (the baseline is the one of
configs/benchmark/cifar10jpg_resnet20.yaml, shared through the store), then writes two sections of
docs/BENCHMARKS.md with the figures, wall times and the command. Finished tasks are kept in the
store, so an interrupted benchmark resumes; --force retrains everything.
"""

from __future__ import annotations

import os
import sys
import time

import torch
from _common import ROOT, MachineWatch, write_section

from torchslim.artifacts import stored_artifact
from torchslim.config import load_config
from torchslim.report.tables import human_count, markdown_table
from torchslim.runner import run

CONFIG = "configs/compare/cifar10jpg_resnet20_pruning.yaml"
BASELINE_CONFIG = "configs/benchmark/cifar10jpg_resnet20.yaml"
TARGET = 85.0
MAX_PRUNE_DROP = 1.5


def baseline_section(base, wall: float) -> str:
    m = base.metrics
    best = max(h["eval_top1"] for h in m["history"])
    row = [
        base.model,
        base.seed,
        m["epochs"],
        f"{m['top1']:.2f}",
        f"{best:.2f}",
        "yes" if m["top1"] >= TARGET else "NO",
        f"{m['train_seconds'] / 60:.1f}",
        f"{m['train_images_per_second']:.0f}",
        m["threads"],
    ]
    return (
        "## ResNet-20 on CIFAR-10 (real JPEG images, 45,000 train / 5,000 val)\n\n"
        f"Target: at least {TARGET:.0f} % validation top-1 in 15 epochs or fewer. Split: "
        f"{base.config['split']}. Accuracy is on the 5,000 held-out training images, not the official "
        "test set (which is not on this machine). Recipe: configs/benchmark/cifar10jpg_resnet20.yaml "
        "(SGD nesterov, one-cycle peak lr 0.4, batch 128, wd 5e-4, label smoothing 0.1, residual blocks "
        "start as identity). Wall time includes data loading and evaluation.\n\n"
        + markdown_table(
            [
                "Model",
                "Seed",
                "Epochs",
                "Final val top-1 (%)",
                "Best epoch val top-1 (%)",
                f">= {TARGET:.0f} %",
                "Train time (min)",
                "Train img/s",
                "Threads",
            ],
            [row],
            "lrrrrlrrr",
        )
        + f"\n\nWall time of this invocation: {wall / 60:.1f} min (tasks already in the store are not rerun)."
    )


def pruning_section(base, pruned) -> str:

    from torchslim.measurement.ratio import ratio_from_rounds
    from torchslim.measurement.side_by_side import first_variants, side_by_side
    from torchslim.measurement.timing import TimingConfig
    from torchslim.models import load_model

    models, spec = {}, None
    for label, r in (("baseline", base), ("pruned", pruned)):
        models[label], spec = load_model(stored_artifact(r).model_path)
    watch = MachineWatch(torch.get_num_threads())
    lat = first_variants(side_by_side(models, spec.shape, [1, 64], timing=TimingConfig(min_seconds=4.0, rounds=8)))
    watch.stop()
    rows = []
    for label, r in (("baseline", base), ("pruned", pruned)):
        m = r.metrics
        cells = []
        for rt in ("torch", "onnxruntime"):
            for b in (1, 64):
                own, ref = lat[(label, rt, b)], lat[("baseline", rt, b)]
                speedup = ratio_from_rounds(list(ref.rounds_s), list(own.rounds_s))
                cells.append(f"{own.median_s * 1e3:.2f} ({'1.00x' if label == 'baseline' else speedup.text()})")
        rows.append(
            [
                r.method_chain,
                f"{m['top1']:.2f}",
                f"{m['top1'] - base.metrics['top1']:+.2f}",
                human_count(m["params"]),
                human_count(m["macs"]),
                f"{base.metrics['macs'] / m['macs']:.2f}x",
                *cells,
            ]
        )
    drop = base.metrics["top1"] - pruned.metrics["top1"]
    notes = pruned.metrics.get("method_notes", {})
    widths = sorted({mod.out_channels for mod in models["pruned"].modules() if isinstance(mod, torch.nn.Conv2d)})
    return (
        "## ResNet-20 on CIFAR-10: structured pruning to half the MACs, fine-tuned\n\n"
        f"Torch-Pruning L1, channel ratio {notes.get('channel_ratio', float('nan')):.3f} found by bisection for "
        "<= 50 % of the MACs, channel counts rounded to multiples of 8 (pruned widths: "
        f"{', '.join(map(str, widths))}), coupled residual groups pruned together, then fine-tuned (epochs in the "
        "chain). Same 45,000 / 5,000 split and seed as the baseline. Latency: medians in ms of both saved models "
        "measured side by side in one process (8 interleaved rounds), speedup against the baseline in brackets with "
        "its 95 % interval over the rounds.\n\n"
        + markdown_table(
            [
                "Method",
                "Val top-1 (%)",
                "Δ top-1",
                "Params",
                "MACs",
                "MACs reduction",
                "torch b1",
                "torch b64",
                "ORT b1",
                "ORT b64",
            ],
            rows,
            "lrrrrrrrrr",
        )
        + f"\n\nDrop against the baseline: {drop:.2f} points (target <= {MAX_PRUNE_DROP}: "
        f"{'met' if drop <= MAX_PRUNE_DROP else 'NOT met'}).\n\n" + watch.text()
    )


def main() -> None:
    os.chdir(ROOT)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    config = BASELINE_CONFIG if "--baseline-only" in sys.argv else CONFIG
    cfg = load_config(config, args)
    t0 = time.perf_counter()
    rows = run(cfg, source=config, force="--force" in sys.argv)
    wall = time.perf_counter() - t0
    base = next(r for r in rows if r.method_chain == "baseline")
    write_section("cifar10-resnet20", baseline_section(base, wall))
    for pruned in (r for r in rows if r.method_chain != "baseline"):
        write_section("cifar10-resnet20-pruning", pruning_section(base, pruned))
    print((ROOT / "docs" / "BENCHMARKS.md").read_text())


if __name__ == "__main__":
    main()
