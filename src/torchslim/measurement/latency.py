"""Latency in PyTorch eager and ONNX Runtime over a list of batch sizes, at a fixed thread count."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Callable

import torch
from pydantic import AfterValidator
from torch import nn

from torchslim.export.onnx import ort_session
from torchslim.measurement.timing import DeviceTime, Timing

RUNTIMES = ("torch", "onnxruntime")


def known_runtimes(value: list[str]) -> list[str]:
    bad = [r for r in value if r not in RUNTIMES]
    if bad:
        raise ValueError(f"unknown runtime {', '.join(map(repr, bad))}; valid choices: {', '.join(RUNTIMES)}")
    return value


def positive_batch_sizes(value: list[int]) -> list[int]:
    if any(b < 1 for b in value):
        raise ValueError(f"batch sizes must be positive, got {value}")
    return value


#: Validated list types shared by ``torchslim bench`` and a recipe's ``measure`` section.
Runtimes = Annotated[list[str], AfterValidator(known_runtimes)]
BatchSizes = Annotated[list[int], AfterValidator(positive_batch_sizes)]


@dataclass(frozen=True)
class LatencyRow:
    runtime: str  # "torch" or "onnxruntime"
    provider: str  # "eager-cpu", "CPUExecutionProvider", "CUDAExecutionProvider", ...
    batch_size: int
    threads: int
    timing: Timing
    gflops_per_image: float
    peak_gflops: float

    @property
    def median_ms(self) -> float:
        return self.timing.median_s * 1e3

    @property
    def images_per_second(self) -> float:
        return self.batch_size / self.timing.median_s

    @property
    def achieved_gflops(self) -> float:
        return self.gflops_per_image * self.images_per_second

    @property
    def pct_of_peak(self) -> float:
        return 100.0 * self.achieved_gflops / self.peak_gflops if self.peak_gflops else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("timing")
        return d | {
            "median_ms": self.median_ms,
            "p10_ms": self.timing.p10_s * 1e3,
            "p90_ms": self.timing.p90_s * 1e3,
            "spread": self.timing.spread,
            "noisy": self.timing.noisy,
            "runs": self.timing.runs,
            "rounds_ms": [x * 1e3 for x in self.timing.rounds_s],  # per interleaved round: pairs up for ratios
            "images_per_second": self.images_per_second,
            "achieved_gflops": self.achieved_gflops,
            "pct_of_peak": self.pct_of_peak,
        }


def onnx_providers() -> list[str]:
    """CPU always; CUDA too when both torch and onnxruntime see a GPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if torch.cuda.is_available() and "CUDAExecutionProvider" in available:
        providers.append("CUDAExecutionProvider")
    return providers


def torch_runner(model: nn.Module, batch: torch.Tensor, threads: int) -> Callable[[], object]:
    """One eager forward pass at a fixed thread count, without autograd bookkeeping."""
    torch.set_num_threads(threads)
    model.eval()

    @torch.inference_mode()
    def call():
        return model(batch)

    return call


def cuda_torch_runner(model: nn.Module, batch: torch.Tensor) -> Callable[[], DeviceTime]:
    """One eager forward pass on the GPU, timed with CUDA events (a copy of the model on the GPU)."""
    gpu_model = copy.deepcopy(model).to("cuda").eval()
    x = batch.to("cuda")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    @torch.inference_mode()
    def call() -> DeviceTime:
        start.record()
        gpu_model(x)
        end.record()
        end.synchronize()
        return DeviceTime(start.elapsed_time(end) / 1000.0)

    return call


def onnx_runner(onnx_path: Path, batch: torch.Tensor, threads: int, provider: str) -> Callable[[], object]:
    """One ONNX Runtime run, its pool not spinning between runs: with several sessions (and PyTorch's
    threads) timed in turn in one process, the idle ones' spinning threads took the cores of the one
    being timed, and PyTorch's latency of the demo's pruned CNNs came out 2-7x the original's."""
    session = ort_session(onnx_path, threads, provider, spinning=False)
    feed = {session.get_inputs()[0].name: batch.numpy()}
    return lambda: session.run(None, feed)
