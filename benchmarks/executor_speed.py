"""Wall time of a recipe with one worker and with ``--workers auto``, with a 95 % interval, and whether
they store the same results.

The recipe runs in paired rounds, the order alternating (one then auto, auto then one, ...), each run
into a fresh store and never side by side. Both use the same per-task thread count (a task's threads
are decided by the task, not the executor), so every stored top-1 must be identical. Each wall time
includes the measurement phase and the report. The speedup is the median of the per-round ratios
with its order-statistic interval (torchslim.measurement.ratio); six rounds are the fewest that give
a 95 % interval; with fewer, the interval is the range of the rounds and the section says how often such a
range holds the median. The default workload is the whole demo config, as the executor's target was set for
it (about 18 minutes a round here); ``--quick`` cuts it to one model, one seed and one training epoch. Writes
the section ``executor-speed`` of docs/BENCHMARKS.md.

    python benchmarks/executor_speed.py [--config configs/quickstart.yaml] [--rounds 6] [--quick | --overrides ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, MachineWatch, write_section

from torchslim.measurement.ratio import min_rounds_for, ratio_from_rounds, verdict_text

TARGET = 0.65  # auto's wall time at most this fraction of one worker's
SPEEDUP_TARGET = round(1 / TARGET, 2)  # the same target as a speedup of auto over one worker
SMALL = "models=[enhanced_lenet5] seeds=[0] train.epochs=1"


def run(config: Path, overrides: list[str], workers: str, folder: Path) -> tuple[float, dict]:
    store = folder / "store.db"
    cmd = [sys.executable, "-m", "torchslim", "run", str(config), *overrides]
    cmd += [f"store={store}", f"output_dir={folder / 'run'}", "--workers", workers]
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"--workers {workers} failed: {proc.stderr.strip().splitlines()[-1]}")
    how = next((line for line in proc.stderr.splitlines() if line.startswith("tasks ")), "")
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT model, method_chain, seed, metrics FROM results").fetchall()
    top1 = {(m, c, s): json.loads(metrics)["top1"] for m, c, s, metrics in rows}
    return wall, {"top1": top1, "how": how}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--rounds", type=int, default=min_rounds_for(0.95))
    parser.add_argument("--overrides", default="", help="key=value overrides of the recipe, space-separated")
    parser.add_argument("--quick", action="store_true", help=f"the cut-down workload: {SMALL}")
    args = parser.parse_args()
    if args.quick:
        args.overrides = f"{SMALL} {args.overrides}".strip()
    overrides = shlex.split(args.overrides)
    watch = MachineWatch(os.cpu_count() or 1)
    walls: dict[str, list[float]] = {"1": [], "auto": []}
    outs: list[dict] = []
    how: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for workers in ("1", "auto") if r % 2 == 0 else ("auto", "1"):
                wall, out = run(args.config, overrides, workers, Path(tmp) / f"{r}-{workers}")
                walls[workers].append(wall)
                outs.append(out["top1"])
                how[workers] = out["how"].removeprefix("tasks ")
                print(f"round {r + 1}/{args.rounds}  --workers {workers}: {wall:.0f} s ({how[workers]})", flush=True)
    speedup = ratio_from_rounds(walls["1"], walls["auto"])
    first = outs[0]
    same = all(o == first for o in outs)
    said = verdict_text(speedup, SPEEDUP_TARGET)
    print(f"speedup of auto over one worker {speedup.text()}: {said}; identical top-1 in all runs: {same}")
    rel = args.config.resolve().relative_to(ROOT)
    recipe = f"{rel} {args.overrides}".strip()
    caveat = (
        "\n  The target was set for the whole demo, where training dominates; the smaller the workload, the larger"
        "\n  the share of what runs serially in both (process start, the latency measurement, the report)."
        if args.overrides
        else ""
    )
    if args.rounds >= min_rounds_for(0.95):
        interval = "95 % interval"
    else:
        held = 1 - 2 * 0.5**args.rounds
        interval = (
            f"range of the {args.rounds} rounds, which holds the median with probability {held:.0%}; "
            f"{min_rounds_for(0.95)} rounds give 95 %"
        )
    med = {k: sorted(v)[len(v) // 2] for k, v in walls.items()}
    write_section(
        "executor-speed",
        f"""## Parallel workers: one worker against `--workers auto`

`torchslim run {recipe}` ({len(first)} tasks) in {args.rounds} paired rounds, the order
alternating each round, every run into a fresh store and never side by side. A task's thread count is
the task's (one thread for these small models), so both executors train identically.

| executor | median wall time | per round (s) | how the tasks ran |
|---|---:|---|---|
| `--workers 1` | {med["1"]:.0f} s | {" / ".join(f"{w:.0f}" for w in walls["1"])} | {how["1"]} |
| `--workers auto` | {med["auto"]:.0f} s | {" / ".join(f"{w:.0f}" for w in walls["auto"])} | {how["auto"]} |

- Speedup of auto over one worker (median of the per-round ratios, {interval}): **{speedup.text()}**.
- Target: auto's wall time at most {TARGET} of one worker's (a speedup of {SPEEDUP_TARGET}x or more): {said}.{caveat}
- Stored top-1 identical in all {len(outs)} runs: **{"yes" if same else "NO"}** ({len(first)} rows each).
- Each wall time includes process start, the measurement phase (latency, alone on the machine) and the report.
{watch.stop().text()}""",
    )


if __name__ == "__main__":
    main()
