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


def int8_matmul_model(n: int):
    """A square MatMul whose inputs go through QuantizeLinear/DequantizeLinear (activations uint8,
    weights a constant int8 tensor): the QDQ form torchslim's INT8 files have, which ONNX Runtime
    and OpenVINO each fuse into their own INT8 GEMM."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.integers(-63, 64, (n, n), dtype=np.int8), "w_q")
    consts = [
        numpy_helper.from_array(np.array(0.02, dtype=np.float32), "a_scale"),
        numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zero"),
        numpy_helper.from_array(np.array(0.01, dtype=np.float32), "w_scale"),
        numpy_helper.from_array(np.array(0, dtype=np.int8), "w_zero"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["a", "a_scale", "a_zero"], ["a_q"]),
        helper.make_node("DequantizeLinear", ["a_q", "a_scale", "a_zero"], ["a_dq"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"]),
        helper.make_node("MatMul", ["a_dq", "w_dq"], ["c"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mm_int8",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [weights, *consts],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def float_matmul_model(n: int):
    """A square FP32 MatMul with a constant right-hand side (a layer's weights)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["c"])],
        "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
        [weights],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def runtime_matmul_gflops(runtime: str, precision: str, threads: int) -> float:
    """Best median GFLOP/s (2n^3 per product) of a square MatMul in ``runtime``'s own kernels:
    ``int8`` from the QDQ graph, ``bf16`` from the FP32 graph under OpenVINO's BF16 hint."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from torchslim.runtimes import runtime_facts

    best = 0.0
    hint = "fp32" if precision == "int8" else precision  # an INT8 file runs in INT8 whatever the hint
    variants = [v for v in runtime_facts(runtime).variants((hint,)) if "cuda" not in v.provider.lower()]
    variant = variants[0]
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = Path(tmp) / f"mm{n}.onnx"
            path.write_bytes((int8_matmul_model if precision == "int8" else float_matmul_model)(n).SerializeToString())
            x = torch.from_numpy(np.random.default_rng(1).standard_normal((n, n), dtype=np.float32))
            call = variant.make(path, x, threads)
            t = time_callable(call, TimingConfig(min_seconds=0.75, min_runs=5))
            best = max(best, 2 * n**3 / t.median_s / 1e9)
    return best


@functools.lru_cache(maxsize=8)
def precision_peak_gflops(precision: str, threads: int) -> float | None:
    """This machine's peak for ``precision``: FP32 as above; INT8 the best of ONNX Runtime's and
    OpenVINO's INT8 GEMM (whichever is installed); BF16 OpenVINO's BF16 GEMM, None on a CPU without
    BF16 kernels (or without OpenVINO). Measured once per process, only when a row needs it."""
    if precision == "fp32":
        return matmul_peak_gflops(threads)
    from torchslim.runtimes import runtime_facts

    runtimes = ["onnxruntime", "openvino"] if precision == "int8" else ["openvino"]
    found = []
    for name in runtimes:
        runtime = runtime_facts(name)
        why = runtime.missing() or (runtime.refuses(precision) if runtime.refuses else None)
        if why is None:
            found.append(runtime_matmul_gflops(name, precision, threads))
    return max(found) if found else None
