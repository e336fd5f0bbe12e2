"""The GPU check: ResNet-20 trained on the shared CIFAR-10 on CUDA, pruned with IDAP++ and with L1 at
equal MACs, then accuracy, training images/s, and latency in PyTorch CUDA (CUDA events) against
ONNX Runtime (CPU, and its CUDA provider where the installed onnxruntime has one).

Sized to finish in under 8 minutes on one H100 (20 epochs, one seed). Without CUDA it refuses,
unless ``--cpu-smoke`` (a one-epoch run on a 2,000-image subset, to test the script itself on a CPU
machine; its figures are not GPU figures and are not written to docs/BENCHMARKS.md).

    python benchmarks/gpu_check.py [--data ../shared/data/cifar10/train] [--cpu-smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import ROOT, write_section

from torchslim.config import validate_config
from torchslim.executors.choice import ExecutorChoice
from torchslim.runner import run


def recipe(data: Path, work: Path, smoke: bool) -> dict:
    epochs, final = (1, 1) if smoke else (20, 3)
    return {
        "name": "gpu_check",
        "models": ["resnet20"],
        "dataset": {"name": f"imagefolder:{data}", "val_fraction": 0.1},
        "seeds": [0],
        "train": {
            "epochs": epochs,
            "batch_size": 256,
            "lr": 0.4,
            "weight_decay": 0.0005,
            "schedule": "onecycle",
            "warmup_fraction": 0.2,
            "label_smoothing": 0.1,
            "device": "cpu" if smoke else "cuda",
        },
        "finetune": {"batch_size": 256, "lr": 0.05, "schedule": "onecycle", "device": "cpu" if smoke else "cuda"},
        "methods": [
            {
                "prune.idap": {
                    "macs_target": 0.4,
                    "steps": 8,
                    "finetune_epochs": 0,
                    "max_drop": 100.0,
                    "final_epochs": final,
                }
            },
            {"prune.structured": {"macs_target": 0.4, "steps": 2, "finetune_epochs": final, "importance": "l1"}},
        ],
        "measure": {"batch_sizes": [1, 64], "min_seconds": 0.3, "compare": False},
        "store": str(work / "gpu_check.db"),
        "output_dir": str(work / "gpu_check"),
    }


TIMED = [
    ("eager-cuda", 1),
    ("eager-cuda", 64),
    ("CPUExecutionProvider", 1),
    ("CPUExecutionProvider", 64),
    ("CUDAExecutionProvider", 1),
]


def latency(row, provider: str, batch: int) -> str:
    """A median with its spread, or why the cell has none (never an empty cell)."""
    import onnxruntime

    hit = [x for x in row.metrics["latency"] if x["provider"] == provider and x["batch_size"] == batch]
    if hit:
        x = hit[0]
        spread = f" ({x['p10_ms']:.3f}–{x['p90_ms']:.3f})" if "p10_ms" in x and "p90_ms" in x else ""
        return f"{x['median_ms']:.3f} ms{spread}"
    if provider == "CUDAExecutionProvider" and provider not in onnxruntime.get_available_providers():
        return f"no CUDA provider in onnxruntime {onnxruntime.__version__}"
    if provider == "eager-cuda" and not torch.cuda.is_available():
        return "no CUDA here"
    return "not measured"


def work_cell(row) -> str:
    """A baseline's training speed; a chain's compression and fine-tuning time."""
    m = row.metrics
    if "train_images_per_second" in m:
        return f"{m['train_images_per_second']:.0f} img/s ({m['train_seconds']:.0f} s)"
    return f"{m.get('compress_seconds', 0):.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cifar10" / "train")
    parser.add_argument("--cpu-smoke", action="store_true", help="test the script on a CPU machine (no figures)")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.cpu_smoke:
        sys.exit("gpu_check: torch sees no CUDA device here; run it on a GPU machine (or --cpu-smoke to test it)")
    data = args.data
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.cpu_smoke:  # a small class-balanced subset, so the script is tested in a minute or two
            data = work / "subset"
            for cls in sorted(p for p in args.data.iterdir() if p.is_dir()):
                (data / cls.name).mkdir(parents=True)
                for f in sorted(cls.iterdir())[:200]:
                    (data / cls.name / f.name).symlink_to(f.resolve())
        t0 = time.perf_counter()
        rows = run(validate_config(recipe(data, work, args.cpu_smoke)), formats=(), executor=ExecutorChoice("local", 1))
        wall = time.perf_counter() - t0
    lines = []
    for r in rows:
        m = r.metrics
        cells = [f"{m['top1']:.2f} %", f"{m['macs'] / 1e6:.1f} M", work_cell(r)]
        cells += [latency(r, p, b) for p, b in TIMED]
        lines.append(f"| {r.method_chain} | " + " | ".join(cells) + " |")
    device = rows[0].metrics.get("device_name", "?")
    body = f"""## GPU check: ResNet-20 on the shared CIFAR-10, IDAP++ and L1 at equal MACs ({device})

Trained and fine-tuned on `{rows[0].metrics.get("device")}` in {rows[0].metrics.get("precision")} autocast,
deterministic algorithms {rows[0].metrics.get("deterministic_algorithms")}; {wall:.0f} s in all, from decoding the
images to the last latency. Latency: median (p10–p90), measured after all tasks, one model at a time.

| method | top-1 | MACs | train img/s, compress s | torch CUDA b1 | b64 | ORT CPU b1 | b64 | ORT CUDA b1 |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
""" + "\n".join(lines)
    print(body)
    if args.cpu_smoke:
        print("(--cpu-smoke: not written to docs/BENCHMARKS.md)")
        return
    write_section("gpu-check", body)


if __name__ == "__main__":
    main()
