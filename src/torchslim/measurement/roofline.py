"""The machine's measured peak FP32 matmul throughput, the yardstick for every latency row.

A latency row's achieved GFLOP/s divided by this peak says how much of the machine the model
really uses; a low percentage on a large model points at overhead in the harness or the runtime.
The peak is the best of two GEMM libraries: PyTorch's (MKL, which takes slower code paths on some
AMD CPUs) and ONNX Runtime's MLAS, each with square FP32 matrices at the same thread count.
"""

from __future__ import annotations

import functools

import torch

from torchslim.measurement.timing import TimingConfig, time_callable

SIZES = (1024, 2048)


@functools.lru_cache(maxsize=8)
def matmul_peak_gflops(threads: int) -> float:
    """The higher of torch's and ONNX Runtime's FP32 GEMM peaks at ``threads`` threads (measured once
    per process: the yardstick of every latency row)."""
    return measure_matmul_peak(threads)


def measure_matmul_peak(threads: int) -> float:
    """The same, measured now (benchmarks compare the start and the end of a run)."""
    return max(torch_matmul_gflops(threads), onnxruntime_matmul_gflops(threads))


def onnxruntime_matmul_gflops(threads: int) -> float:
    """Best median GFLOP/s of a one-node ONNX MatMul graph in ONNX Runtime (MLAS)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    best = 0.0
    for n in SIZES:
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["c"])],
            "mm",
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in ("a", "b")],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feed = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
        t = time_callable(lambda: sess.run(None, feed), TimingConfig(min_seconds=0.75, min_runs=5))
        best = max(best, 2 * n**3 / t.median_s / 1e9)
    return best


def torch_matmul_gflops(threads: int) -> float:
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
