"""Aggregation across seeds. The standard deviation is the sample one (ddof=1), as in seed 002."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def ranges_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (low, high) timing ranges, such as p10-p90, overlap: then a difference of
    medians is within the measured noise."""
    return a[0] <= b[1] and b[0] <= a[1]


@dataclass(frozen=True)
class SeedStats:
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """None for a single seed: a spread cannot be estimated from one run."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def format(self, digits: int = 2) -> str:
        if not self.values or any(math.isnan(v) for v in self.values):
            raise ValueError("cannot format a missing or NaN result")
        std = self.std
        return f"{self.mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{self.mean:.{digits}f} (1 seed)"
