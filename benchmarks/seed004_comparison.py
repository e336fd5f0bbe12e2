"""Seed 004's comparison from literature checkpoints: the adapted baselines and every method at 2x fewer MACs.

Usage: python benchmarks/seed004_comparison.py CONFIG [--report-only] [--workers N]
CONFIG: configs/seed004/cifar10jpg_resnet20.yaml or ..._resnet56.yaml. Runs it through the store
(resumable: an interrupted run continues from the last finished epoch of each task), then writes a
section of docs/BENCHMARKS.md: how each baseline was adapted and its test top-1 against the goal,
the comparison table ``torchslim report`` builds (``report.comparison``), the wall time each method
took, and the best method's loss at 2x fewer MACs. Tasks not in the store yet are named, not
guessed. ``--report-only`` writes the section from what is stored, without running anything.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from _common import ROOT, write_section

from torchslim.config import load_config
from torchslim.report.build import stored_groups
from torchslim.report.comparison import comparison_table
from torchslim.store import Store

#: the issue's goals for the adapted baselines on the official test split (literature: 91.25 / 93.03 %)
GOALS = {"resnet20": 90.0, "resnet56": 91.5}


def baseline_lines(group, cfg) -> list[str]:
    base = group.baseline
    if base is None:
        return ["The adapted baseline is not in the store yet."]
    name = group.model.split("[")[0]
    goal = GOALS.get(name)
    out = []
    for r in sorted(base.rows, key=lambda r: r.seed):
        history = r.metrics.get("history", [])
        curve = ", ".join(f"{h['eval_top1']:.2f}" for h in history)
        tests = [h["test_top1"] for h in history if "test_top1" in h]
        out.append(
            f"- seed {r.seed}: test top-1 **{r.metrics['test_top1']:.2f} %** on {r.metrics['test_images']:,} images "
            f"(val {r.metrics['top1']:.2f} %), {r.metrics['epochs']} epochs in "
            f"{r.metrics['train_seconds'] / 60:.0f} min "
            f"at {r.metrics['train_images_per_second']:.0f} img/s; val top-1 per epoch: {curve}"
        )
        if tests:  # recorded for the record only (train.test_curve): never read to choose anything
            out.append(f"  - test top-1 per epoch: {', '.join(f'{t:.2f}' for t in tests)}")
            if goal is not None and len(tests) >= 4:
                half = tests[len(tests) // 2 :]
                out.append(
                    f"  - second half of the schedule: test top-1 from {half[0]:.2f} to {tests[-1]:.2f} "
                    f"(best {max(tests):.2f}, epoch {tests.index(max(tests)) + 1}); goal {goal:.1f} "
                    + ("reached" if max(tests) >= goal else "not reached")
                )
    stats = base.final_top1
    if goal is not None:
        met = stats.mean >= goal
        out.append(
            f"- Goal ≥ {goal:.1f} % on the test split: mean {stats.mean:.2f} % — "
            + ("**met**" if met else "**not met**")
        )
    t = cfg.train
    out.append(
        f"- How: `{cfg.models[0].checkpoint}` loaded into `{group.model}` (option-A shortcuts as a fixed copy "
        f"convolution, logits equal to an independent option-A network within 1e-5), then {t.epochs} epochs on the "
        f"45,000 training JPEGs: SGD (Nesterov) one-cycle to lr {t.lr}, batch {t.batch_size}, weight decay "
        f"{t.weight_decay}, flip and pad-crop, the checkpoint's ImageNet normalisation; {t.placement.threads or 'all'} "
        "thread(s) per task. The 5,000 val images were "
        "carved from train and were seen by the checkpoint's own training, so val is optimistic; test is not."
    )
    return out


def method_minutes(group) -> list[list[str]]:
    rows = []
    for e in group.measured:
        if e.is_baseline:
            continue
        secs = [r.metrics.get("compress_seconds", 0.0) for r in e.rows]
        rows.append(f"{e.method} {e.compression}: {statistics.fmean(secs) / 60:.1f} min per seed ({len(secs)} seed(s))")
    return rows


def loss_line(group) -> str:
    base = group.baseline
    pruned = [e for e in group.measured if e.is_pruning and e.mean("macs") and base and base.mean("macs")]
    pruned = [e for e in pruned if e.mean("macs") <= 0.5 * base.mean("macs") * 1.001]
    if base is None or not pruned:
        return "Best method at 2x fewer MACs: not measured yet."
    best = max(pruned, key=lambda e: e.final_top1.mean)
    loss = base.final_top1.mean - best.final_top1.mean
    return (
        f"Best method at 2x fewer MACs: {best.method} {best.compression}, {best.final_top1.format()} % against the "
        f"baseline's {base.final_top1.format()} %: a loss of {loss:.2f} points (goal ≤ 0.5: "
        + ("**met**" if loss <= 0.5 else "**not met**")
        + ")."
    )


def main() -> None:
    args = sys.argv[1:]
    config = args.pop(0)
    report_only = "--report-only" in args
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else None
    os.chdir(ROOT)
    cfg = load_config(config, [])
    t0 = time.perf_counter()
    if not report_only:
        from torchslim.executors.choice import ExecutorChoice
        from torchslim.runner import run

        run(cfg, source=config, executor=ExecutorChoice("local", workers or 1))
    wall = time.perf_counter() - t0
    _, groups = stored_groups(cfg, Store(cfg.store), config)
    parts = [f"## Seed 004's comparison from literature checkpoints: {cfg.name}\n\nConfig `{config}`."]
    for g in groups:
        parts.append(f"### Adapted baseline: {g.model}\n\n" + "\n".join(baseline_lines(g, cfg)))
        waiting = [
            f"{e.chain} (seed {', '.join(map(str, sorted(e.missing)))}: {next(iter(e.missing.values()))})"
            for e in g.entries
            if e.missing
        ]
        if len([e for e in g.measured if not e.is_baseline]) >= 2:
            batch = min(g.batch_sizes, default=1)
            parts.append("### Comparison\n\n" + comparison_table(g, batch).markdown())
            parts.append("Wall time per method (pruning and its training):\n\n- " + "\n- ".join(method_minutes(g)))
            parts.append(loss_line(g))
        if waiting:
            parts.append(f"Not in the store yet ({len(waiting)} chains):\n\n- " + "\n- ".join(waiting))
    parts.append(
        f"Wall time of this invocation: {wall / 60:.1f} min (tasks already in the store are not rerun); "
        "every figure above was computed on this machine's CPU (no GPU)."
    )
    body = "\n\n".join(parts)
    write_section(f"seed004-{cfg.name}", body)
    print(body)


if __name__ == "__main__":
    main()
