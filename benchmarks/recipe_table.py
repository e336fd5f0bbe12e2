"""Run a recipe (resuming from the store) and write its summary table into docs/BENCHMARKS.md.

Usage: python benchmarks/recipe_table.py CONFIG [--key SECTION] [--title TEXT] [key=value overrides]
Used for the accuracy comparisons of compression methods (mnist5k pruning, EfficientNet-B0, ...):
the tables are the report's seed-002 and seed-000 ones, so the figures are exactly those in the store.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import ROOT, write_section

from torchslim.config import load_config
from torchslim.report.build import stored_groups
from torchslim.report.method_tables import methods_table, seeds_table
from torchslim.runner import run
from torchslim.store import Store


def tables(cfg, source: str) -> str:
    """The report's own seed-002 and seed-000 tables, so the figures are exactly those in the store."""
    _, groups = stored_groups(cfg, Store(cfg.store), source)
    parts = [seeds_table(groups, list(cfg.seeds)).markdown()]
    parts += [f"*{g.model}*\n\n" + methods_table(g).markdown() for g in groups if g.measured]
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--key", default=None, help="section key in BENCHMARKS.md (default: the config's name)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    os.chdir(ROOT)
    cfg = load_config(args.config, args.overrides)
    t0 = time.perf_counter()
    rows = run(cfg, source=args.config, force=args.force)
    wall = time.perf_counter() - t0
    title = args.title or f"{cfg.name}: {', '.join(m.label for m in cfg.models)} on {cfg.dataset.name}"
    body = (
        f"## {title}\n\nTop-1 on the {rows[0].metrics['eval_split']} split ({rows[0].config.get('split', '')}), "
        f"seeds {', '.join(map(str, cfg.seeds))}; Δ is paired seed by seed against the same seed's baseline. "
        f"Wall time of this invocation: {wall / 60:.1f} min (tasks already in the store are not rerun).\n\n"
        + tables(cfg, args.config)
    )
    write_section(args.key or cfg.name, body)
    print(body)
    print(f"report: {Path(cfg.run_dir) / 'report.md'}")


if __name__ == "__main__":
    main()
