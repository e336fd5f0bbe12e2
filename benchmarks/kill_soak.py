"""Soak test of crash safety: SIGKILL a sweep at random points, rerun after each kill, compare.

A sweep of at least 20 tasks (SimpleCNN on scikit-learn's digits, five seeds, a baseline and three
chains each) runs once uninterrupted into one store, and once into another store while this script
kills it with SIGKILL at random moments, at least ``--kills`` times, restarting it after each kill,
until it completes. Then every row of the two stores is compared: none may be lost, none
duplicated, and every deterministic metric (top-1, top-5, loss, params, MACs, non-zero params, file
size) must be identical. The counts go to docs/BENCHMARKS.md.

    python benchmarks/kill_soak.py [--kills 10] [--seed 0]
    python benchmarks/kill_soak.py --driver-at-start 5

The second form is the orphan check: it starts the sweep with ``--workers 2`` in a session of its
own, SIGKILLs the driver while its workers are still starting (importing torch), and counts the
processes of that session still alive 30 s later: workers and multiprocessing's resource tracker.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import write_section

from torchslim.executors.local import session_processes

SEEDS = [0, 1, 2, 3, 4]
METHODS = [
    {"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 1}},
    {"prune.structured": {"ratio": 0.5, "finetune_epochs": 1}},
    {"quant.dynamic": {}},
]
COMPARED = ("top1", "top5", "loss", "params", "macs", "nonzero_params", "file_bytes")


def recipe(store: Path, out: Path) -> dict:
    return {
        "name": "soak",
        "models": ["simple_cnn_6x2"],
        "dataset": {"name": "digits"},
        "seeds": SEEDS,
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.05, "threads": 1},
        "finetune": {"epochs": 1, "batch_size": 64, "lr": 0.01, "threads": 1},
        "methods": METHODS,
        "measure": {"latency": False},
        "store": str(store),
        "output_dir": str(out),
    }


def launch(config: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "torchslim", "run", str(config), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers share the session: what is left of it can be counted
    )


def orphan_check(kills: int, rng: random.Random) -> None:
    """SIGKILL the driver while its two workers start; no process of its session may be left."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "orphans.yaml"
        cfg.write_text(yaml.safe_dump(recipe(tmp / "orphans.db", tmp / "orphans")))
        for _ in range(kills):
            proc = launch(cfg, tmp, "--workers", "2")
            start = time.monotonic()
            while len(session_processes(proc.pid)) < 3 and time.monotonic() - start < 60:  # the workers exist
                time.sleep(0.05)
            workers_at = time.monotonic() - start
            time.sleep(rng.uniform(0.0, 2.0))  # within the ~5 s they take to import torch
            killed_at = time.monotonic() - start
            before = len(session_processes(proc.pid)) - 1
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            deadline = time.monotonic() + 30
            while session_processes(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = session_processes(proc.pid)
            for pid in left:  # leave the machine clean for the next round
                os.kill(pid, signal.SIGKILL)
            results.append((workers_at, killed_at, before, len(left)))
    verdict = "PASS" if all(r[3] == 0 for r in results) else "FAIL"
    body = (
        "## Crash safety: the driver killed while its workers start\n\n"
        f"`torchslim run` of the soak sweep with `--workers 2`, in a session of its own, SIGKILLed {kills} times "
        "while its workers were starting; then the session's processes still alive after 30 s were counted.\n\n"
        "| Kill | Workers seen at (s) | Killed at (s) | Processes besides the driver | Left after 30 s |\n"
        "|---:|---:|---:|---:|---:|\n"
        + "".join(f"| {i + 1} | {w:.1f} | {k:.1f} | {b} | {n} |\n" for i, (w, k, b, n) in enumerate(results))
        + f"\nVerdict: **{verdict}**."
    )
    print(body)
    write_section("kill-soak-driver", body)
    if verdict != "PASS":
        sys.exit(1)


def rows(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as con:
        return con.execute("SELECT config_hash, model, dataset, method_chain, seed, metrics FROM results").fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10, help="SIGKILLs at least (default 10)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill times")
    ap.add_argument(
        "--driver-at-start",
        type=int,
        default=0,
        metavar="K",
        help="instead: SIGKILL the driver K times while its workers start, and count what is left",
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.driver_at_start:
        orphan_check(args.driver_at_start, rng)
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ref_cfg, soak_cfg = tmp / "reference.yaml", tmp / "soak.yaml"
        ref_cfg.write_text(yaml.safe_dump(recipe(tmp / "reference.db", tmp / "reference")))
        soak_cfg.write_text(yaml.safe_dump(recipe(tmp / "soak.db", tmp / "soak")))
        t0 = time.perf_counter()
        if launch(ref_cfg, tmp).wait() != 0:
            sys.exit("the uninterrupted reference run failed")
        ref_seconds = time.perf_counter() - t0
        tasks = len(rows(tmp / "reference.db"))
        kills, restarts, delays = 0, 0, []
        while True:
            proc = launch(soak_cfg, tmp)
            restarts += 1
            if kills >= args.kills:  # enough kills: let this one finish
                if proc.wait() != 0:
                    sys.exit("the final soak run failed")
                break
            delay = rng.uniform(1.0, max(2.0, ref_seconds / 8))
            try:
                code = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills, delays = kills + 1, delays + [delay]
                continue
            if code != 0:
                sys.exit(f"a soak run failed on its own (exit {code})")
            # it finished before its kill: start the sweep again from an empty store, for more kills
            for f in [tmp / "soak.db", *tmp.glob("soak.db-*")]:
                f.unlink(missing_ok=True)
        ref = {r[:5]: json.loads(r[5]) for r in rows(tmp / "reference.db")}
        got = rows(tmp / "soak.db")
        soak = {r[:5]: json.loads(r[5]) for r in got}
        lost = sorted(set(ref) - set(soak))
        duplicated = len(got) - len(soak)
        differing = [k for k in ref if k in soak and any(ref[k].get(m) != soak[k].get(m) for m in COMPARED)]
        extra = sorted(set(soak) - set(ref))

    verdict = "PASS" if not (lost or duplicated or differing or extra) else "FAIL"
    body = (
        "## Crash safety: SIGKILL soak\n\n"
        f"A sweep of {tasks} tasks (simple_cnn_6x2 on digits, seeds {SEEDS[0]}-{SEEDS[-1]}, a baseline and "
        f"{len(METHODS)} chains each: unstructured 50 %, structured 50 %, dynamic INT8) ran once uninterrupted "
        f"({ref_seconds:.0f} s) and once under {kills} SIGKILLs at random moments "
        f"({min(delays):.1f}-{max(delays):.1f} s after each start), rerun after each ({restarts} starts in all).\n\n"
        "| Rows in the reference | Rows after the soak | Lost | Duplicated | Differing | Unexpected | Verdict |\n"
        "|---:|---:|---:|---:|---:|---:|---|\n"
        f"| {len(ref)} | {len(got)} | {len(lost)} | {duplicated} | {len(differing)} | {len(extra)} "
        f"| **{verdict}** |\n\n"
        f"Compared per row: {', '.join(COMPARED)} (exact equality)."
    )
    print(body)
    write_section("kill-soak", body)
    if verdict != "PASS":
        sys.exit(1)


if __name__ == "__main__":
    main()
