"""``torchslim search`` at real scale: ResNet-20 on the shared CIFAR-10, fastest in ONNX Runtime at batch 8
within 1 point, in at most 20 trials.

Usage: python benchmarks/search_cifar10.py [key=value overrides] [--workers N]
Records the Pareto front, the pick and its speedup over the original (re-timed side by side, 95 % interval;
target at least 2.5x), and the compute the search took (wall time, and the summed task time of its trials).
Writes the section ``search-cifar10`` of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import time

from _common import ROOT, MachineWatch, write_section

from torchslim.config import load_config
from torchslim.executors.choice import ExecutorChoice
from torchslim.measurement.ratio import verdict_text
from torchslim.search.command import search
from torchslim.search.outputs import front_table
from torchslim.store import Store

CONFIG = "configs/search/cifar10_resnet20.yaml"
TARGET = 2.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--workers", default="1")
    args = ap.parse_args()
    os.chdir(ROOT)
    cfg = load_config(CONFIG, args.overrides)
    sc = cfg.search
    workers = int(args.workers) if args.workers.isdigit() else args.workers
    watch = MachineWatch(cfg.train.placement.threads or os.cpu_count() or 1)
    t0 = time.perf_counter()
    result = search(cfg, source=CONFIG, executor=ExecutorChoice(workers=workers), formats=("md", "html"))
    wall = time.perf_counter() - t0
    watch.stop()
    store = Store(cfg.store)
    task_s = 0.0
    for t in result.trials:
        row = next((r for r in store.iter_rows(model=cfg.models[0].label) if r.config_hash == t.task_hash), None)
        if row is not None:
            task_s += row.metrics.get("compress_seconds", 0.0) or 0.0
    lines = [
        f"## Search: ResNet-20 on CIFAR-10, fastest in ONNX Runtime (batch {sc.batch}) within {sc.max_drop:g} point",
        "",
        f"`torchslim search {CONFIG}`: {len(result.trials)} trials, baseline top-1 {result.baseline_top1:.2f} %. "
        f"This invocation {wall / 60:.1f} min; the trials' chains took {task_s / 60:.1f} min to compress and "
        "fine-tune when computed (tasks already in the store are reused).",
        "",
        result.rule,
        "",
        front_table(result, sc).markdown(),
        "",
    ]
    if result.pick is not None and result.pick_speedup is not None:
        lines.append(
            f"- Pick `{result.pick.label}`: top-1 {result.pick.top1:.2f} % ({-result.pick.drop:+.2f} points); "
            f"speedup over the original, re-timed side by side: {result.pick_speedup.text()}; target at least "
            f"{TARGET}x: {verdict_text(result.pick_speedup, TARGET)}."
        )
    else:
        lines.append("- No trial kept within the budget: nothing was picked.")
    lines.append(watch.text())
    write_section("search-cifar10", "\n".join(lines))
    print("\n".join(lines[-3:]))


if __name__ == "__main__":
    main()
