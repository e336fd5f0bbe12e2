"""The machine's measured peak FP32 matmul throughput, the yardstick for every latency row.

A latency row's achieved GFLOP/s divided by this peak says how much of the machine the model
really uses; a low percentage on a large model points at overhead in the harness or the runtime.
"""

from __future__ import annotations

import functools

import torch

from torchslim.measure.timing import TimingConfig, time_callable

SIZES = (1024, 2048)


@functools.lru_cache(maxsize=8)
def matmul_peak_gflops(threads: int) -> float:
    """Best median GFLOP/s of square FP32 ``torch.mm`` at a few sizes, with ``threads`` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        best = 0.0
        for n in SIZES:
            a, b = torch.randn(n, n), torch.randn(n, n)
            out = torch.empty(n, n)
            t = time_callable(lambda: torch.mm(a, b, out=out), TimingConfig(min_seconds=0.75, min_runs=5))
            best = max(best, 2 * n**3 / t.median_s / 1e9)
        return best
    finally:
        torch.set_num_threads(previous)
