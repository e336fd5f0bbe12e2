"""IDAP++ against L1, Taylor and random structured pruning at equal MACs and fine-tuning budget.

Usage: python benchmarks/idap_equal_macs.py [CONFIG] [key=value overrides]
Default CONFIG: configs/idap/mnist5k_equal_macs.yaml. Runs it (resuming from the store), then
writes a section of docs/BENCHMARKS.md: MACs reduction, top-1 mean ± std over seeds, the paired
drop against the original, the fine-tuning epochs each method used, and whether IDAP++ lost less
accuracy than L1-magnitude pruning. It says so when it did not.
"""

from __future__ import annotations

import os
import sys
import time

from _common import ROOT, write_section

from torchslim.config import load_config
from torchslim.report.build import stored_groups
from torchslim.report.method_tables import paired_delta
from torchslim.report.tables import markdown_table
from torchslim.runner import run
from torchslim.store import Store


def epochs_used(entry) -> str:
    used = sorted({sum(f["epochs"] for f in r.metrics.get("method_notes", {}).get("finetune", [])) for r in entry.rows})
    return "/".join(map(str, used))


def stored_minutes(groups) -> float:
    """Training and compression seconds the stored rows recorded, so a rerun from the store still
    says what the table cost."""
    return (
        sum(
            r.metrics.get("train_seconds", 0.0) + r.metrics.get("compress_seconds", 0.0)
            for g in groups
            for e in g.entries
            for r in e.rows
        )
        / 60
    )


def main() -> None:
    args = sys.argv[1:]
    config = args.pop(0) if args and "=" not in args[0] else "configs/idap/mnist5k_equal_macs.yaml"
    os.chdir(ROOT)
    cfg = load_config(config, args)
    t0 = time.perf_counter()
    run(cfg, source=config)
    wall = time.perf_counter() - t0
    _, groups = stored_groups(cfg, Store(cfg.store), config)
    sections = []
    for g in groups:
        base = g.baseline
        rows, drops = [], {}
        for e in g.measured:
            importance = next(
                (s["params"].get("importance", "l1") for s in e.steps if s["name"] == "prune.structured"),
                "divergence (IDAP++)" if e.steps else "—",
            )
            drops[importance] = base.top1.mean - e.top1.mean if base else None
            rows.append(
                [
                    e.method,
                    importance,
                    f"{g.macs_ratio(e):.2f}x" if g.macs_ratio(e) else "—",
                    e.top1.format(),
                    paired_delta(e, base),
                    epochs_used(e) if e.steps else "—",
                ]
            )
        idap, l1 = drops.get("divergence (IDAP++)"), drops.get("l1")
        verdict = (
            "not measured"
            if idap is None or l1 is None
            else f"IDAP++ lost {idap:.2f} points, L1 {l1:.2f}: IDAP++ " + ("WINS" if idap < l1 else "DOES NOT WIN")
        )
        sections.append(
            f"### {g.model} on {g.dataset}\n\n"
            + markdown_table(
                ["Method", "Importance", "MACs reduction", "Top-1 (%)", "Δ vs original (paired)", "Fine-tune epochs"],
                rows,
                "llrrrr",
            )
            + f"\n\nVerdict (mean over seeds {', '.join(map(str, cfg.seeds))}): {verdict}."
        )
    body = (
        f"## IDAP++ at equal MACs: {cfg.name}\n\nConfig `{config}`: every method to at most "
        f"{100 * cfg.methods[0].steps[0].config().macs_target:.0f} % of the original's MACs, "
        "with the fine-tuning epochs each method used in the last column (the config's comment says how the budget "
        "is split), from the same trained originals. "
        f"Wall time of this invocation: {wall / 60:.1f} min (tasks already in the store are not rerun); "
        f"compute recorded with the stored results: {stored_minutes(groups):.0f} min (training of the originals "
        "plus each method's pruning and fine-tuning).\n\n" + "\n\n".join(sections)
    )
    write_section(cfg.name, body)
    print(body)


if __name__ == "__main__":
    main()
