"""Shared by the benchmark scripts: where results go and how a section of BENCHMARKS.md is replaced."""

from __future__ import annotations

import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nEvery section is written by a script in `benchmarks/`; rerun the command shown to "
    "reproduce it. Speeds are compared as ratios measured side by side in one run.\n"
)


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def machine_line() -> str:
    from torchslim.measurement.hardware import fingerprint
    from torchslim.provenance import git_commit, library_versions

    hw, v = fingerprint(), library_versions()
    return (
        f"{hw['cpu_model']}, {hw['logical_cores']} logical cores, ISA {', '.join(hw['isa'])}, "
        f"{hw['memory_gib']} GiB; torch {v['torch']}, onnxruntime {v['onnxruntime']}; commit `{git_commit()}`"
    )


def write_section(key: str, body: str) -> None:
    """Replace (or append) the section marked with ``key`` in docs/BENCHMARKS.md."""
    BENCHMARKS_MD.parent.mkdir(parents=True, exist_ok=True)
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- begin {key} -->\n{body.strip()}\n\n"
        f"- Command: `{command_line()}`\n- Machine: {machine_line()}\n- Measured: {stamp}\n<!-- end {key} -->"
    )
    pattern = re.compile(rf"<!-- begin {re.escape(key)} -->.*?<!-- end {re.escape(key)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)


class MachineWatch:
    """The machine's state around a benchmark: load average and GEMM peak at the start and the end.

    This machine's speed varies up to 2x within an hour; a section whose GEMM peak moved by more
    than 10 % while it ran says the machine changed under it."""

    def __init__(self, threads: int):
        import os

        from torchslim.measurement.roofline import measure_matmul_peak

        self.threads = threads
        self.load_before = os.getloadavg()[0]
        self.peak_before = measure_matmul_peak(threads)

    def stop(self) -> "MachineWatch":
        import os

        from torchslim.measurement.roofline import measure_matmul_peak

        self.load_after = os.getloadavg()[0]
        self.peak_after = measure_matmul_peak(self.threads)
        return self

    @property
    def changed(self) -> bool:
        return abs(self.peak_after - self.peak_before) > 0.10 * self.peak_before

    def text(self) -> str:
        move = 100 * (self.peak_after - self.peak_before) / self.peak_before
        line = (
            f"- Machine state: load average (1 min) {self.load_before:.2f} before, {self.load_after:.2f} after; "
            f"GEMM peak {self.peak_before:.0f} GFLOP/s at the start, {self.peak_after:.0f} at the end ({move:+.0f} %)"
        )
        return line + (": **the machine changed under the run** (more than 10 %)." if self.changed else ".")
