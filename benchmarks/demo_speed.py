"""What made the demo faster, and what the timing change costs, each measured side by side.

Usage: python benchmarks/demo_speed.py [--width 0.05] [--budget 60] [--rounds 6]

1. A training step (batch 64, one thread, as in a demo worker, deterministic algorithms on) of the
   demo's two CNNs, in four variants: NCHW or channels-last (NHWC), and torch's NaN filling of new
   tensors on or off. All four run in one process in alternating rounds; the speedup of each over
   the old setting (NCHW, filling on) carries its 95 % interval (``measurement.ratio``).
2. ONNX Runtime at batch 1 on two threads, its thread pool spinning between runs (the default)
   or not (how torchslim now times it). A spinning session disturbs any other in its process, so
   each variant runs in a process of its own, alternating, and the ratio is taken per round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _common import MachineWatch, write_section
from torch import nn

from torchslim.export.onnx import export_onnx
from torchslim.measurement.ratio import measure_ratios, ratio_from_rounds
from torchslim.models import InputSpec, build_model
from torchslim.report.tables import markdown_table
from torchslim.train.determinism import configure

MODELS = ("enhanced_lenet5", "simple_cnn_6x2")
SPEC = InputSpec(10, 1, 28)
OLD = ("NCHW", True)
VARIANTS = [("NCHW", True), ("NCHW", False), ("NHWC", True), ("NHWC", False)]


def step_runner(name: str, layout: str, fill: bool):
    """One SGD step on a fixed batch; sets the process-wide fill switch before each step."""
    torch.manual_seed(0)
    model = build_model(name, SPEC)
    fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, *SPEC.shape, generator=g).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (64,), generator=g)
    ce = nn.CrossEntropyLoss()

    def call() -> None:
        torch.utils.deterministic.fill_uninitialized_memory = fill
        opt.zero_grad(set_to_none=True)
        ce(model(x), y).backward()
        opt.step()

    return call


def label(variant: tuple[str, bool]) -> str:
    return f"{variant[0]}, NaN fill {'on' if variant[1] else 'off'}"


def training_rows(width: float, budget: float) -> list[list[str]]:
    configure(0, deterministic=True, threads=1)
    rows = []
    for name in MODELS:
        runners = {label(v): step_runner(name, *v) for v in VARIANTS}
        pairs = [(label(OLD), label(v)) for v in VARIANTS if v != OLD]
        ratios, times = measure_ratios(runners, pairs, rel_width=width, budget_s=budget)
        for v in VARIANTS:
            ms = statistics.median(times[label(v)]) * 1e3
            ratio = "1 (reference)" if v == OLD else ratios[(label(OLD), label(v))].text()
            rows.append([name, label(v), f"{ms:.1f}", ratio, str(len(times[label(v)]))])
    torch.utils.deterministic.fill_uninitialized_memory = True
    return rows


CHILD = """
import json, statistics, sys, time
import numpy as np
from torchslim.export.onnx import ort_session
path, spinning, runs = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
s = ort_session(path, 2, spinning=spinning)
feed = {s.get_inputs()[0].name: np.random.default_rng(0).standard_normal((1, 1, 28, 28), dtype=np.float32)}
for _ in range(200):
    s.run(None, feed)
ts = []
for _ in range(runs):
    t = time.perf_counter(); s.run(None, feed); ts.append(time.perf_counter() - t)
print(json.dumps(statistics.median(ts)))
"""


def spin_rows(rounds: int, runs: int) -> list[list[str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            torch.manual_seed(0)
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(build_model(name, SPEC).eval(), torch.zeros(1, *SPEC.shape), path)
            medians: dict[bool, list[float]] = {True: [], False: []}
            for r in range(rounds):
                for spinning in (True, False) if r % 2 == 0 else (False, True):
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, str(path), "1" if spinning else "0", str(runs)],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    medians[spinning].append(json.loads(out.stdout.strip().splitlines()[-1]))
            ratio = ratio_from_rounds(medians[False], medians[True])
            rows.append(
                [
                    name,
                    f"{statistics.median(medians[True]) * 1e3:.3f}",
                    f"{statistics.median(medians[False]) * 1e3:.3f}",
                    ratio.text(),
                    str(rounds),
                ]
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, default=0.05, help="stop when every interval is within this of its ratio")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of step timing per model at most")
    ap.add_argument("--rounds", type=int, default=6, help="alternating process pairs per model (ONNX Runtime)")
    ap.add_argument("--runs", type=int, default=2000, help="timed ONNX Runtime runs per process")
    args = ap.parse_args()
    watch = MachineWatch(2)
    train = training_rows(args.width, args.budget)
    spin = spin_rows(args.rounds, args.runs)
    watch.stop()
    body = (
        "## The demo's speed: channels-last training, no NaN filling, and ONNX Runtime without spinning\n\n"
        "**Training step** of the demo's CNNs on mnist5k-sized input (batch 64, 1x28x28, one thread as in a "
        "demo worker, deterministic algorithms on, random weights). The four variants run in one process in "
        f"alternating rounds until every interval is within ±{100 * args.width:.0f} % or {args.budget:g} s are "
        "spent. The speedup is the old setting's time over the variant's: the median of the per-round ratios, "
        "with its 95 % interval. torchslim now trains the last variant (channels-last, filling off).\n\n"
        + markdown_table(
            ["Model", "Variant", "Median ms per step", "Speedup vs NCHW, fill on (95 % CI)", "Rounds"], train
        )
        + "\n\n**ONNX Runtime at batch 1, two threads**, each variant in a process of its own (a spinning "
        f"session disturbs others in its process), alternating for {args.rounds} rounds of {args.runs} runs after "
        "200 warm-up runs. The ratio is the no-spin median over the spinning one, per round: above 1 means timing "
        "without spinning reports a higher latency than a lone spinning session would have.\n\n"
        + markdown_table(
            ["Model", "Spinning: median ms", "Not spinning: median ms", "No-spin / spin (95 % CI)", "Rounds"], spin
        )
        + "\n\n"
        + watch.text()
    )
    write_section("demo-speed", body)
    print(body)


if __name__ == "__main__":
    main()
