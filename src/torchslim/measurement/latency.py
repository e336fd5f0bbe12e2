"""Latency rows over a list of batch sizes, at a fixed thread count, in the registered runtimes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import AfterValidator

from torchslim.measurement.timing import Timing
from torchslim.runtimes import RUNTIMES

#: what is timed when a config names no runtime: the two every install has
DEFAULT_RUNTIMES = ("torch", "onnxruntime")


def known_runtimes(value: list[str]) -> list[str]:
    """Registered runtimes only (the registry's one line names the valid choices)."""
    from torchslim.errors import UnknownNameError

    for name in value:
        if name not in RUNTIMES:
            raise ValueError(str(UnknownNameError(RUNTIMES.unknown_message(name))))
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
    runtime: str  # a registered runtime: "torch", "onnxruntime", "openvino", ...
    provider: str  # the runtime's variant: "eager-cpu", "CPUExecutionProvider", "CPU-bf16", ...
    batch_size: int
    threads: int
    timing: Timing
    gflops_per_image: float
    peak_gflops: float | None  # this machine's peak for the row's precision (measurement.roofline)
    peak_precision: str = "fp32"  # which peak: fp32, int8 (an INT8 file) or bf16 (a BF16 hint)

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
