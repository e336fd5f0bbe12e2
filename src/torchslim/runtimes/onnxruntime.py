"""ONNX Runtime: the model's ONNX file (its FP32 export, or the INT8 QDQ file a method wrote)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from torchslim.export.onnx import checked_session, ort_session
from torchslim.runtimes.base import Runtime, Variant, register_runtime


def onnx_providers() -> list[str]:
    """CPU always; CUDA too when both torch and onnxruntime see a GPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if torch.cuda.is_available() and "CUDAExecutionProvider" in available:
        providers.append("CUDAExecutionProvider")
    return providers


def onnx_runner(onnx_path: Path, batch: torch.Tensor, threads: int, provider: str) -> Callable[[], object]:
    """One ONNX Runtime run, its pool not spinning between runs: with several sessions (and PyTorch's
    threads) timed in turn in one process, the idle ones' spinning threads took the cores of the one
    being timed, and PyTorch's latency of the demo's pruned CNNs came out 2-7x the original's."""
    session = ort_session(onnx_path, threads, provider, spinning=False)
    feed = {session.get_inputs()[0].name: batch.numpy()}
    return lambda: session.run(None, feed)


def onnx_predictor(onnx_path: Path, threads: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    session = checked_session(onnx_path, threads)  # a file from anywhere: one line if it cannot run
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})


def variants(precisions: tuple[str, ...]) -> list[Variant]:
    return [
        Variant(
            p,
            "file",
            lambda path, batch, threads, p=p: onnx_runner(path, batch, threads, p),
            onnx_predictor if p == "CPUExecutionProvider" else None,
        )
        for p in onnx_providers()
    ]


register_runtime(Runtime("onnxruntime", "ONNX Runtime", "onnx", ("fp32", "int8"), variants))
