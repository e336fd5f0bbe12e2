"""``torchslim search`` against the demo's hand-written table: EnhancedLeNet5 on mnist5k, within 0.5 points.

Usage: python benchmarks/search_mnist5k.py [key=value overrides of the search config]
1. Runs configs/search/mnist5k_lenet5.yaml (objective latency:onnxruntime:b1, max_drop 0.5, 30 trials; trials on
   seed 0, the pick confirmed on seed 1).
2. Runs the demo's table for the same model (configs/quickstart.yaml, models=[enhanced_lenet5]) into the same
   store: same training settings and seeds, so the baselines are shared.
3. Every demo row whose mean top-1 over the seeds is within 0.5 points of the baseline's is timed side by side
   with the pick and the baseline in one process (ONNX Runtime, batch 1, alternating rounds); the fastest of
   them is the row to beat. Target: the pick's latency at most 0.8x that row's, i.e. that row's time over the
   pick's at least 1.25x, judged on the 95 % interval (met / NOT met / inconclusive).
Writes the section ``search-mnist5k`` of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from _common import ROOT, MachineWatch, write_section

from torchslim.config import load_config
from torchslim.measurement.ratio import verdict_text
from torchslim.runner import ExecutorChoice
from torchslim.runner import run as run_recipe
from torchslim.search.command import search
from torchslim.search.trials import time_against

CONFIG = "configs/search/mnist5k_lenet5.yaml"
TARGET = 0.8  # the pick's latency over the demo row's


def per_seed(values: dict[int, float]) -> str:
    return " / ".join(f"{v:.2f}" for _, v in sorted(values.items()))


def main() -> None:
    os.chdir(ROOT)
    cfg = load_config(CONFIG, sys.argv[1:])
    sc = cfg.search
    t0 = time.perf_counter()
    result = search(cfg, source=CONFIG, executor=ExecutorChoice(workers=1), formats=("md", "html"))
    search_s = time.perf_counter() - t0
    if result.pick is None:
        sys.exit("the search found no model within the budget")
    demo = load_config(
        "configs/quickstart.yaml",
        ["models=[enhanced_lenet5]", f"store={cfg.store}", "measure.compare=false", f"seeds={cfg.seeds}"],
    )
    rows = run_recipe(demo, source="configs/quickstart.yaml", formats=("md",))
    by_chain: dict[str, dict[int, object]] = {}
    for r in rows:
        by_chain.setdefault(r.method_chain, {})[r.seed] = r
    base_mean = statistics.mean(r.metrics["top1"] for r in by_chain["baseline"].values())
    within = {
        chain: seeds
        for chain, seeds in by_chain.items()
        if chain != "baseline" and base_mean - statistics.mean(r.metrics["top1"] for r in seeds.values()) <= sc.max_drop
    }
    seed0 = cfg.seeds[0]
    pick_row = result.rows["pick"]
    watch = MachineWatch(cfg.measure.threads or os.cpu_count() or 1)
    timed = {"base": by_chain["baseline"][seed0], "pick": pick_row}
    names = {f"row{i}": chain for i, chain in enumerate(within)}
    timed |= {label: within[chain][seed0] for label, chain in names.items()}
    ratios, ms = time_against(timed, [(label, "pick") for label in ["base", *names]], sc, cfg.measure.threads, 120.0)
    watch.stop()
    key = ("onnxruntime", "CPUExecutionProvider", sc.batch)
    fastest = min(names, key=lambda label: ms[(label, key)]) if names else None
    lines = [
        f"## Search: EnhancedLeNet5 on mnist5k, fastest in ONNX Runtime (batch {sc.batch}) "
        f"within {sc.max_drop:g} points",
        "",
        f"`torchslim search {CONFIG}`: {len(result.trials)} trials (objective `{sc.objective}`, Optuna TPE with the "
        f"budget as a constraint), trials on seed {seed0}, in {search_s / 60:.1f} min (tasks already in the store are "
        "reused). The pick was then timed side by side, in one process, against the baseline and every row of the "
        f"demo's hand-written table (`configs/quickstart.yaml`, same model, training and seeds) whose mean top-1 is "
        f"within the same {sc.max_drop:g} points.",
        "",
        result.rule,
        "",
        "| Model | Chain | Top-1 per seed (%) | Mean Δ top-1 | ORT b1 median (ms) "
        "| That row's time / the pick's (95 % CI) |",
        "| :--- | :--- | :--- | ---: | ---: | ---: |",
    ]
    pick_seeds = {seed0: result.pick.top1} | {s: c["pick"] for s, c in result.confirmed.items()}
    base_seeds = {s: r.metrics["top1"] for s, r in by_chain["baseline"].items()}
    pick_drop = statistics.mean(base_seeds[s] - v for s, v in pick_seeds.items() if s in base_seeds)
    lines.append(
        f"| **search pick** | `{result.pick.label}` | "
        f"{per_seed(pick_seeds)} | {-pick_drop:+.2f} | "
        f"{ms[('pick', key)]:.4f} | 1 (reference) |"
    )
    for label in ["base", *names]:
        chain = "baseline" if label == "base" else names[label]
        seeds = by_chain[chain]
        drop = statistics.mean(base_seeds[s] - r.metrics["top1"] for s, r in seeds.items())
        tag = " (fastest demo row)" if label == fastest else ""
        lines.append(
            f"| demo{tag} | `{chain}` | {per_seed({s: r.metrics['top1'] for s, r in seeds.items()})} | "
            f"{-drop:+.2f} | {ms[(label, key)]:.4f} | {ratios[(label, 'pick')].text()} |"
        )
    lines.append("")
    if fastest is not None:
        r = ratios[(fastest, "pick")]
        lines.append(
            f"- Pick against the fastest demo row within budget (`{names[fastest]}`): that row's time over the "
            f"pick's {r.text()}; target at least {1 / TARGET:.2f}x (the pick at most {TARGET}x its latency): "
            f"{verdict_text(r, 1 / TARGET)}."
        )
    else:
        lines.append("- No row of the demo's table kept within the budget, so there was nothing to beat.")
    lines.append(f"- Pick against the original: {ratios[('base', 'pick')].text()} faster.")
    lines.append(
        f"- Pick's mean Δ top-1 over seeds {', '.join(map(str, sorted(pick_seeds)))}: {-pick_drop:+.2f} points."
    )
    lines.append(watch.text())
    write_section("search-mnist5k", "\n".join(lines))
    print("\n".join(lines[-6:]))


if __name__ == "__main__":
    main()
