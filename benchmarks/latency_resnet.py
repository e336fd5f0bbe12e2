"""Latency of torchvision resnet18 / resnet50 at 224x224 in PyTorch eager and ONNX Runtime.

Usage: python benchmarks/latency_resnet.py [--invocations 3] [--min-seconds 3]
Each (model, invocation) is a separate `torchslim bench` process, so the spread across invocations
shows how repeatable a median is on this machine (coefficient of variation, target <= 5 %).
Writes the table to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import ROOT, MachineWatch, write_section

from torchslim.measurement.ratio import ratio_from_rounds
from torchslim.report.tables import markdown_table

MODELS = ("torchvision:resnet18", "torchvision:resnet50")
BATCHES = (1, 8)
CV_TARGET = 5.0
PEAK_TARGET = 60.0


def short(model: str) -> str:
    return model.split(":")[1]


def bench(model: str, min_seconds: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "torchslim",
        "bench",
        model,
        "--input-size",
        "224",
        "--batch-sizes",
        *map(str, BATCHES),
        "--runtimes",
        "torch",
        "onnxruntime",
        "--min-seconds",
        str(min_seconds),
        "--json",
        "--store",
        "runs/benchmarks.db",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--invocations", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    args = ap.parse_args()
    import os

    watch = MachineWatch(os.cpu_count() or 1)
    records: dict[str, list[dict]] = {m: [] for m in MODELS}
    for i in range(args.invocations):
        for model in MODELS:
            print(f"invocation {i + 1}/{args.invocations}: {model}", flush=True)
            records[model].append(bench(model, args.min_seconds))
    rows, worst_cv, r50_peak = [], 0.0, None
    for model, recs in records.items():
        for runtime in ("torch", "onnxruntime"):
            for bs in BATCHES:
                lat = [
                    next(r for r in rec["latency"] if r["runtime"] == runtime and r["batch_size"] == bs) for rec in recs
                ]
                medians = [r["median_ms"] for r in lat]
                cv = 100 * statistics.stdev(medians) / statistics.fmean(medians) if len(medians) > 1 else 0.0
                worst_cv = max(worst_cv, cv)
                mid = statistics.median(medians)
                pct = statistics.median(r["pct_of_peak"] for r in lat)
                torch_same = [
                    next(r for r in rec["latency"] if r["runtime"] == "torch" and r["batch_size"] == bs) for rec in recs
                ]
                # ORT and torch rows of one invocation were timed in the same interleaved rounds: paired
                speedup = ratio_from_rounds(
                    [x for t in torch_same for x in t["rounds_ms"]], [x for r in lat for x in r["rounds_ms"]]
                )
                if model.endswith("resnet50") and runtime == "onnxruntime" and bs == 8:
                    r50_peak = pct
                rows.append(
                    [
                        short(model),
                        runtime,
                        bs,
                        " / ".join(f"{m:.2f}" for m in medians),
                        f"{mid:.2f}",
                        " / ".join(f"{r['p10_ms']:.2f}–{r['p90_ms']:.2f}" for r in lat),
                        f"{cv:.1f}",
                        f"{statistics.median(r['images_per_second'] for r in lat):.1f}",
                        f"{statistics.median(r['achieved_gflops'] for r in lat):.1f}",
                        f"{pct:.0f}",
                        "1 (reference)" if runtime == "torch" else speedup.text(),
                    ]
                )
    peaks = [rec["peak_gflops"] for recs in records.values() for rec in recs]
    macs = {m: recs[0]["complexity"]["macs"] / 1e9 for m, recs in records.items()}
    parity = {m: max(rec["parity"]["max_abs_diff"] for rec in recs) for m, recs in records.items()}
    body = (
        "## Latency: torchvision ResNet-18 / ResNet-50, 224x224, PyTorch eager vs ONNX Runtime (CPU EP)\n\n"
        f"{args.invocations} separate invocations of `torchslim bench` per model, each timing every row for at "
        f"least {args.min_seconds:g} s after warm-up. Threads fixed at the core count. Medians are per "
        "invocation; CV is the coefficient of variation of those medians across invocations (target "
        f"<= {CV_TARGET:.0f} %). % peak = achieved GFLOP/s (torch FlopCounterMode FLOPs x img/s) over the "
        "measured FP32 GEMM peak, the best of torch.mm (MKL) and ONNX Runtime MatMul (MLAS) "
        f"(median {statistics.median(peaks):.1f} GFLOP/s; per invocation "
        f"{', '.join(f'{p:.1f}' for p in peaks)}). Speedup = torch eager median / this row's median, same "
        "batch, paired round by round within each invocation (the median of the per-round ratios, with its "
        "95 % order-statistic interval over all invocations' rounds). Above 100 % means the runtime's "
        "convolution kernels beat its own GEMM yardstick.\n\n"
        f"MACs per image: {', '.join(f'{short(m)} {v:.2f} G' for m, v in macs.items())}. ONNX parity "
        f"(max abs diff on a real batch): {', '.join(f'{short(m)} {v:.1e}' for m, v in parity.items())}.\n\n"
        + markdown_table(
            [
                "Model",
                "Runtime",
                "Batch",
                "Median ms per invocation",
                "Median ms",
                "p10–p90 ms per invocation",
                "CV %",
                "img/s",
                "GFLOP/s",
                "% of matmul peak",
                "Speedup vs torch (95 % CI)",
            ],
            rows,
            "llrlrlrrrrr",
        )
        + f"\n\nWorst CV across rows: {worst_cv:.1f} % (target <= {CV_TARGET:.0f} %: "
        f"{'met' if worst_cv <= CV_TARGET else 'NOT met'}). ResNet-50 ONNX Runtime batch 8 reaches "
        f"{r50_peak:.0f} % of the matmul peak (target >= {PEAK_TARGET:.0f} %: "
        f"{'met' if r50_peak >= PEAK_TARGET else 'NOT met'}).\n" + watch.stop().text()
    )
    write_section("latency-resnet", body)
    print(body)


if __name__ == "__main__":
    main()
