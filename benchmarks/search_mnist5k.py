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

import copy
import os
import statistics
import sys
import time

import torch
import torch_pruning as tp
from _common import ROOT, MachineWatch, write_section

from torchslim.artifacts import stored_artifact
from torchslim.config import load_config
from torchslim.executors.choice import ExecutorChoice
from torchslim.latency_comparison import load_artifact
from torchslim.measurement.bench import BenchConfig, paired_ratios
from torchslim.measurement.ratio import verdict_text
from torchslim.models import load_model
from torchslim.runner import run as run_recipe
from torchslim.search.command import search
from torchslim.search.trials import latency_key, time_against

CONFIG = "configs/search/mnist5k_lenet5.yaml"
TARGET = 0.8  # the pick's latency over the demo row's


CUT_RATIOS = (0.5, 0.6, 0.7, 0.8, 0.9)


def channel_cuts(model: torch.nn.Module, example: torch.Tensor, round_to: int | None) -> dict[str, torch.nn.Module]:
    """The trained baseline cut by Torch-Pruning (L1, one shot, no fine-tuning) at rising channel ratios:
    only their latency is of interest, to see how fast a float channel cut of this network can get."""
    cuts = {}
    for ratio in CUT_RATIOS:
        m = copy.deepcopy(model).eval()
        head = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)][-1]
        tp.pruner.MagnitudePruner(
            m,
            example,
            importance=tp.importance.MagnitudeImportance(p=1),
            pruning_ratio=ratio,
            ignored_layers=[head],
            round_to=round_to,
        ).step()
        cuts[f"cut {ratio:g}, round_to {round_to or 1}"] = m
    return cuts


def cut_lines(base_row, fastest_row, fastest_chain: str, sc, threads) -> list[str]:
    """Untrained channel cuts timed side by side with the fastest demo row: where the latency target lies."""
    model, spec = load_model(stored_artifact(base_row).model_path)
    example = torch.zeros(1, *spec.shape)
    targets = {"row": load_artifact(fastest_row)} | channel_cuts(model, example, 8) | channel_cuts(model, example, None)
    cfg = BenchConfig(
        batch_sizes=[sc.batch],
        runtimes=["onnxruntime"],
        threads=threads,
        in_channels=spec.in_channels,
        input_size=spec.image_size,
        num_classes=spec.num_classes,
    )
    ratios, ms = paired_ratios(targets, [("row", k) for k in targets if k != "row"], cfg, rel_width=0.03, budget_s=90)
    key = latency_key(sc)
    lines = [
        "",
        f"How fast can a float channel cut of this network get? The trained baseline cut in one shot by Torch-Pruning "
        f"(L1, no fine-tuning, so only the latency means anything), timed side by side with the fastest demo row "
        f"(`{fastest_chain}`, {ms[('row', key)]:.4f} ms):",
        "",
        "| Cut | MACs | ORT b1 median (ms) | That row's time / the cut's (95 % CI) |",
        "| :--- | ---: | ---: | ---: |",
    ]
    for label, model in targets.items():
        if label == "row":
            continue
        macs, _ = tp.utils.count_ops_and_params(model, example)
        lines.append(
            f"| {label} | {macs / 1e6:.3f} M | {ms[(label, key)]:.4f} | {ratios[('row', label, key)].text()} |"
        )
    return lines


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
    key = latency_key(sc)
    fastest = min(names, key=lambda label: ms[(label, key)]) if names else None
    cuts = cut_lines(timed["base"], timed[fastest], names[fastest], sc, cfg.measure.threads) if fastest else []
    watch.stop()
    lines = [
        f"## Search: EnhancedLeNet5 on mnist5k, fastest in ONNX Runtime (batch {sc.batch}) "
        f"within {sc.max_drop:g} points",
        "",
        f"`torchslim search {CONFIG}`: {len(result.trials)} trials (objective `{sc.objective}`, Optuna TPE with the "
        f"budget as a constraint), trials on seed {seed0}; this invocation took {search_s / 60:.1f} min "
        "(trials already judged in the study and tasks already in the store are reused, not run again). "
        "The pick was then timed side by side, in one process, against the baseline and every row of the "
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
        f"- Pick's mean Δ top-1 over seeds {', '.join(map(str, sorted(pick_seeds)))}: {-pick_drop:+.2f} points; "
        f"within the {sc.max_drop:g}-point budget: {'yes' if pick_drop <= sc.max_drop else 'NO'}."
    )
    lines += cuts + [""]
    lines.append(watch.text())
    write_section("search-mnist5k", "\n".join(lines))
    print("\n".join(lines[-6:]))


if __name__ == "__main__":
    main()
