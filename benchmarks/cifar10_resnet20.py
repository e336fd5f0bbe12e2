"""ResNet-20 on the real CIFAR-10 images in ../shared: does it reach 85 % val top-1 in <= 15 epochs?

Usage: python benchmarks/cifar10_resnet20.py [key=value overrides]   (or `make bench-cifar`)
Records the figure, the wall time and the command in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import sys
import time

from _common import ROOT, write_section

from torchslim.config import load_config
from torchslim.report.tables import markdown_table
from torchslim.runner import run

CONFIG = "configs/benchmark/cifar10jpg_resnet20.yaml"
TARGET = 85.0


def main() -> None:
    import os

    os.chdir(ROOT)
    cfg = load_config(CONFIG, sys.argv[1:])
    t0 = time.perf_counter()
    rows = run(cfg, source=CONFIG, force=True)
    wall = time.perf_counter() - t0
    body_rows = []
    for r in rows:
        m = r.metrics
        best = max(h["eval_top1"] for h in m["history"])
        body_rows.append([r.model, r.seed, m["epochs"], f"{m['top1']:.2f}", f"{best:.2f}",
                          "yes" if m["top1"] >= TARGET else "NO", f"{m['train_seconds'] / 60:.1f}",
                          f"{m['train_images_per_second']:.0f}", m["threads"]])
    body = (
        "## ResNet-20 on CIFAR-10 (real JPEG images, 45,000 train / 5,000 val)\n\n"
        f"Target: at least {TARGET:.0f} % validation top-1 in 15 epochs or fewer. Split: "
        f"{rows[0].config['split']}. Accuracy is on the 5,000 held-out training images, not the official "
        "test set (which is not on this machine). Wall time includes data loading and evaluation.\n\n"
        + markdown_table(
            ["Model", "Seed", "Epochs", "Final val top-1 (%)", "Best epoch val top-1 (%)", f">= {TARGET:.0f} %",
             "Train time (min)", "Train img/s", "Threads"],
            body_rows, "lrrrrlrrr",
        )
        + f"\n\nTotal wall time of the script: {wall / 60:.1f} min."
    )
    write_section("cifar10-resnet20", body)
    print(body)


if __name__ == "__main__":
    main()
