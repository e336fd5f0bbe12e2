"""Wall time of the demo with one worker and with ``--workers auto``, and whether they store the same results.

The demo config (configs/quickstart.yaml, 40 tasks) runs twice, one after the other and never side
by side, into two fresh stores: ``--workers 1`` (one task at a time in the driver) and
``--workers auto``. Both use the same per-task thread count (a task's threads are decided by the
task, not the executor), so every stored top-1 must be identical. Each wall time includes the
measurement phase and the report. Writes the section ``executor-speed`` of docs/BENCHMARKS.md.

    python benchmarks/executor_speed.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, write_section

TARGET = 0.65


def run(config: Path, workers: str, folder: Path) -> tuple[float, dict]:
    store = folder / "store.db"
    cmd = [sys.executable, "-m", "torchslim", "run", str(config), f"store={store}", f"output_dir={folder / 'run'}"]
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1")
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--workers", workers], cwd=ROOT, env=env, capture_output=True, text=True)
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, one_out = run(args.config, "1", Path(tmp) / "one")
        print(f"--workers 1: {one:.0f} s ({one_out['how']})", flush=True)
        auto, auto_out = run(args.config, "auto", Path(tmp) / "auto")
        print(f"--workers auto: {auto:.0f} s ({auto_out['how']})", flush=True)
    a, b = one_out["top1"], auto_out["top1"]
    same = sum(a[k] == b.get(k) for k in a)
    ratio = auto / one
    verdict = "PASS" if ratio <= TARGET and same == len(a) == len(b) else "FAIL"
    print(f"ratio {ratio:.2f} (target <= {TARGET}); identical top-1: {same}/{len(a)}; {verdict}")
    rel = args.config.resolve().relative_to(ROOT)
    write_section(
        "executor-speed",
        f"""## Parallel workers: the demo with one worker and with `--workers auto`

`{rel}` ({len(a)} tasks) run twice, one after the other, each into a fresh store. A task's thread
count is the task's (one thread for these small models), so both runs train identically.

| executor | wall time | how the tasks ran |
|---|---:|---|
| `--workers 1` | {one:.0f} s | {one_out["how"].removeprefix("tasks ")} |
| `--workers auto` | {auto:.0f} s | {auto_out["how"].removeprefix("tasks ")} |

- Ratio auto / one: **{ratio:.2f}** (target at most {TARGET}): {verdict}.
- Stored top-1 identical between the two stores: **{same} of {len(a)}** rows.
- Each wall time includes the measurement phase (latency, alone on the machine) and the report.
- One measurement of each (the machine's speed drifts up to 2x within an hour); the order was one worker first.""",
    )


if __name__ == "__main__":
    main()
