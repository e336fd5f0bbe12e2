"""Training on an image folder larger than memory: peak memory and images/s, streamed and in memory.

Generates a folder of 20,000 JPEG images (224x224, ten classes) and trains one epoch of
MobileNetV3-small on it through the streaming path (``dataset.memory_budget_gib`` below its 2.8 GiB
decoded size: DataLoader workers decode and augment each batch), sampling the resident memory of
the whole process tree (driver and DataLoader workers, as proportional set size: a shared page
counts once in all). Then, on a 2,000-image folder that fits, the same epoch in memory and streamed, one
after the other. Writes the section ``streaming`` of docs/BENCHMARKS.md.

    python benchmarks/streaming.py [--images 20000] [--small 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import psutil
import yaml
from _common import ROOT, write_section

TARGET_GIB = 3.0
SIZE = 224


def _write_image(args: tuple[Path, int, int]) -> None:
    from PIL import Image

    folder, cls, i = args
    rng = np.random.default_rng(cls * 1_000_003 + i)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    base = np.stack([np.sin((cls + 1) * xx * 3), np.cos((cls + 2) * yy * 2), xx * yy], -1)
    img = (base * 100 + 120 + rng.normal(0, 12, (SIZE, SIZE, 3))).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(folder / f"{cls}" / f"{i:05d}.jpg", quality=85)


def make_folder(folder: Path, n: int) -> None:
    for cls in range(10):
        (folder / f"{cls}").mkdir(parents=True, exist_ok=True)
    with Pool(os.cpu_count()) as pool:
        pool.map(_write_image, [(folder, i % 10, i) for i in range(n)], chunksize=64)


def tree_pss(proc: psutil.Process) -> int:
    """Proportional set size summed over the tree: a page shared by n processes counts 1/n in each
    (summing RSS would count the parent's copy-on-write pages once more in every DataLoader worker)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total


def train_epoch(folder: Path, work: Path, budget_gib: float, name: str) -> dict:
    cfg = {
        "name": name,
        "models": ["torchvision:mobilenet_v3_small"],
        "dataset": {"name": f"imagefolder:{folder}", "image_size": SIZE, "memory_budget_gib": budget_gib},
        "train": {"epochs": 1, "batch_size": 32, "eval_batch_size": 64, "lr": 0.05, "threads": os.cpu_count()},
        "measure": {"latency": False},
        "store": str(work / f"{name}.db"),
        "output_dir": str(work / name),
    }
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1", TORCHSLIM_CACHE=str(work / "cache"), COLUMNS="300")
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchslim", "run", str(path), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, ps = 0, psutil.Process(proc.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_pss(ps))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{name} failed: {err.strip().splitlines()[-1]}")
    with sqlite3.connect(work / f"{name}.db") as db:
        metrics = json.loads(db.execute("SELECT metrics FROM results").fetchone()[0])
    return {
        "peak_gib": peak / 2**30,
        "images_per_second": metrics["train_images_per_second"],
        "top1": metrics["top1"],
        "streamed": "streaming them" in err,
    }


def row(folder: str, path: str, r: dict) -> str:
    return f"| {folder} | {path} | {r['peak_gib']:.2f} GiB | {r['images_per_second']:.0f} | {r['top1']:.2f} % |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        make_folder(work / "big", args.images)
        make_folder(work / "small", args.small)
        print(f"generated {args.images} + {args.small} images in {time.perf_counter() - t0:.0f} s", flush=True)
        big = train_epoch(work / "big", work, 1.0, "big_streamed")
        print(f"big, streamed: {big}", flush=True)
        mem = train_epoch(work / "small", work, 4.0, "small_in_memory")
        print(f"small, in memory: {mem}", flush=True)
        streamed = train_epoch(work / "small", work, 0.01, "small_streamed")
        print(f"small, streamed: {streamed}", flush=True)
    decoded = args.images * 3 * SIZE * SIZE / 2**30
    verdict = "PASS" if big["peak_gib"] <= TARGET_GIB and big["streamed"] else "FAIL"
    write_section(
        "streaming",
        f"""## Image folders larger than memory: streamed through DataLoader workers

One epoch of `torchvision:mobilenet_v3_small` (batch 32, evaluated at batch 64, {os.cpu_count()} threads)
on generated 224x224 JPEG folders.
Peak memory is the resident size of the process tree (driver and DataLoader workers), summed as
proportional set size (each shared page once), sampled every 0.1 s.

| folder | path | peak resident | train images/s | top-1 after 1 epoch |
|---|---|---:|---:|---:|
{row(f"{args.images:,} images ({decoded:.1f} GiB decoded)", "streamed", big)}
{row(f"{args.small:,} images", "in memory", mem)}
{row(f"{args.small:,} images", "streamed", streamed)}

- Peak resident memory of the {args.images:,}-image epoch: **{big["peak_gib"]:.2f} GiB**
  (target at most {TARGET_GIB:g} GiB): {verdict}.
- The streamed and in-memory epochs of the small folder draw the same batches and augmentations
  (same top-1 expected); images/s is one measurement of each, taken one after the other.""",
    )


if __name__ == "__main__":
    main()
