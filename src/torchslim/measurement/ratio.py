"""A speed ratio with a confidence interval, and a verdict against a target that respects it.

A and B are timed in alternating rounds in one process; each round gives one ratio (A's median
time over B's). A slow phase of a shared machine slows both halves of a round alike, so the
per-round ratios are far steadier than either timing. The reported ratio is the median of the
rounds, and its 95 % interval is the distribution-free order-statistic interval for a median:
ranks ``j < k`` of the sorted per-round ratios with ``P(j <= Binomial(n, 1/2) < k) >= 0.95``. It
assumes only that rounds are independent draws around the same ratio, no normality and no
resampling noise, and its coverage is exact (at least 95 %) for any continuous distribution; a
bootstrap of the median over rounds covers less than its nominal level at the 10-30 rounds a
benchmark affords. Rounds are added until the interval is narrower than ``rel_width`` of the ratio
on each side, or the time budget is spent; then the result says it did not converge.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Literal

from torchslim.measurement.timing import WARMUP_SECONDS, DeviceTime

Verdict = Literal["met", "NOT met", "inconclusive"]


@dataclass(frozen=True)
class SpeedRatio:
    """``ratio`` = A's time / B's time (a speedup of B over A when above 1)."""

    ratio: float
    low: float
    high: float
    rounds: int
    confidence: float
    rel_width: float  # the half-width asked for, relative to the ratio
    converged: bool  # whether the interval got that narrow within the budget

    @property
    def half_width(self) -> float:
        return max(self.ratio - self.low, self.high - self.ratio) / self.ratio if self.ratio else math.inf

    @property
    def within_noise(self) -> bool:
        """The interval includes 1.0: A and B cannot be told apart."""
        return self.low <= 1.0 <= self.high

    def inverse(self) -> "SpeedRatio":
        """B's time over A's: the same measurement read the other way."""
        return replace(self, ratio=1 / self.ratio, low=1 / self.high, high=1 / self.low)

    def verdict(self, target: float) -> Verdict:
        return verdict(self.low, self.high, target)

    def text(self, digits: int = 2) -> str:
        """``3.24× (3.05–3.41)``"""
        return f"{self.ratio:.{digits}f}× ({self.low:.{digits}f}–{self.high:.{digits}f})"

    def as_dict(self) -> dict:
        return asdict(self) | {"half_width": self.half_width, "within_noise": self.within_noise}


def verdict(low: float, high: float, target: float) -> Verdict:
    """``met`` only when the whole interval is above the target, ``NOT met`` only when it is all below."""
    if low > target:
        return "met"
    if high < target:
        return "NOT met"
    return "inconclusive"


def verdict_text(r: SpeedRatio, target: float) -> str:
    """``met (3.24× (3.05–3.41) vs target 3.0×)``: never a bare number against a threshold."""
    return f"{r.verdict(target)} ({r.text()} vs target {target:g}×)"


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """The order-statistic interval of the median of ``values`` (see the module docstring)."""
    xs = sorted(values)
    n = len(xs)
    if n < 2:
        return (xs[0], xs[0]) if xs else (math.nan, math.nan)
    pmf = [math.comb(n, i) / 2**n for i in range(n + 1)]
    # widen symmetric ranks j, n-1-j (0-based) until they hold the median with the asked probability
    for j in range((n - 1) // 2, -1, -1):
        k = n - 1 - j
        if sum(pmf[j + 1 : k + 1]) >= confidence:
            return xs[j], xs[k]
    return xs[0], xs[-1]  # too few rounds for this confidence: the range, flagged by the caller


def min_rounds_for(confidence: float) -> int:
    """The fewest rounds whose full range is a ``confidence`` interval for the median (6 for 95 %)."""
    n = 2
    while 1 - 2 * 0.5**n < confidence:
        n += 1
    return n


def ratio_from_rounds(
    a_times: list[float], b_times: list[float], confidence: float = 0.95, rel_width: float = 0.05
) -> SpeedRatio:
    """The ratio and its interval from per-round times of A and B (one pair per round)."""
    ratios = [a / b for a, b in zip(a_times, b_times) if b > 0]
    low, high = median_interval(ratios, confidence)
    mid = statistics.median(ratios)
    enough = len(ratios) >= min_rounds_for(confidence)
    half = max(mid - low, high - mid) / mid if mid else math.inf
    return SpeedRatio(mid, low, high, len(ratios), confidence, rel_width, enough and half <= rel_width)


def measure_ratio(
    run_a: Callable[[], object],
    run_b: Callable[[], object],
    *,
    rel_width: float = 0.05,
    confidence: float = 0.95,
    budget_s: float = 30.0,
    round_s: float = 0.2,
    min_rounds: int | None = None,
    max_rounds: int = 200,
    clock: Callable[[], float] = time.perf_counter,
) -> SpeedRatio:
    """Time A and B in alternating rounds (AB, BA, AB, ...) until the ratio's interval is within
    ``rel_width`` of it on each side, or ``budget_s`` is spent. A round times each callable for about
    ``round_s`` and keeps its median run."""
    ratios, _ = measure_ratios(
        {"a": run_a, "b": run_b},
        [("a", "b")],
        rel_width=rel_width,
        confidence=confidence,
        budget_s=budget_s,
        round_s=round_s,
        min_rounds=min_rounds,
        max_rounds=max_rounds,
        clock=clock,
    )
    return ratios[("a", "b")]


def measure_ratios(
    runners: dict[str, Callable[[], object]],
    pairs: list[tuple[str, str]],
    *,
    rel_width: float = 0.05,
    confidence: float = 0.95,
    budget_s: float = 60.0,
    round_s: float = 0.2,
    min_rounds: int | None = None,
    max_rounds: int = 200,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[dict[tuple[str, str], SpeedRatio], dict[str, list[float]]]:
    """Several callables in alternating rounds, until every ``(a, b)`` pair's ratio (a's time over
    b's) is within ``rel_width`` or the budget is spent; also returns each callable's per-round medians."""
    for fn in runners.values():  # warm-up on the same clock as the rounds: a fake clock stays deterministic
        round_median(fn, WARMUP_SECONDS, clock)
    need = max(min_rounds or 0, min_rounds_for(confidence))
    times: dict[str, list[float]] = {k: [] for k in runners}
    order = list(runners.items())
    start = clock()
    done = 0
    while done < max_rounds:
        for label, fn in order if done % 2 == 0 else order[::-1]:
            times[label].append(round_median(fn, round_s, clock))
        done += 1
        if done >= need:
            ratios = {(a, b): ratio_from_rounds(times[a], times[b], confidence, rel_width) for a, b in pairs}
            if all(r.converged for r in ratios.values()) or clock() - start > budget_s:
                return ratios, times
    return {(a, b): ratio_from_rounds(times[a], times[b], confidence, rel_width) for a, b in pairs}, times


def round_median(fn: Callable[[], object], seconds: float, clock: Callable[[], float]) -> float:
    """The median of the runs of ``fn`` that fit in ``seconds`` (three at least)."""
    runs: list[float] = []
    start = clock()
    while len(runs) < 3 or clock() - start < seconds:
        t0 = clock()
        out = fn()
        runs.append(out.seconds if isinstance(out, DeviceTime) else clock() - t0)
        if len(runs) >= 1000:
            break
    return statistics.median(runs)
