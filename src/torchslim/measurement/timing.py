"""Repeated timing: warm-up, then timed runs, summarised by median and p10/p90.

Medians resist the outliers of a shared machine; the p10-p90 spread relative to the median says
how far to trust a figure, and a wide spread raises the ``noisy`` flag. Several callables that
will be compared (runtimes, batch sizes, a baseline and its compressed model) are timed in
interleaved rounds, so a slow phase of the shared machine hits all of them alike instead of
whichever happened to run at that moment.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Hashable

from torchslim.runtimes.base import DeviceTime

NOISY_SPREAD = 0.15  # (p90 - p10) / median above this is flagged
WARMUP_SECONDS = 0.5


@dataclass(frozen=True)
class TimingConfig:
    warmup_runs: int = 5
    warmup_seconds: float | None = None  # None: half the timed budget (min_seconds), at most WARMUP_SECONDS
    min_runs: int = 10
    min_seconds: float = 2.0
    max_runs: int = 500
    rounds: int = 1  # interleaved rounds when several callables are timed together


@dataclass(frozen=True)
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    runs: int
    rounds_s: tuple[float, ...] = ()  # per interleaved round, the median run: what speed ratios pair up

    @property
    def spread(self) -> float:
        return (self.p90_s - self.p10_s) / self.median_s if self.median_s else float("inf")

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD

    def as_dict(self) -> dict:
        return asdict(self) | {"spread": self.spread, "noisy": self.noisy}


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in [0, 100])."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def warmup_seconds(cfg: TimingConfig) -> float:
    """A short timing budget gets a short warm-up: the warm-up runs at least ``warmup_runs`` times
    (first-call allocations and kernel choices), and a tiny model reaches its steady state in far less
    than 0.5 s, which at ``min_seconds: 0.3`` would be most of the time spent."""
    return cfg.warmup_seconds if cfg.warmup_seconds is not None else min(WARMUP_SECONDS, cfg.min_seconds / 2)


def warm_up(fn: Callable[[], object], cfg: TimingConfig) -> None:
    start = time.perf_counter()
    runs = 0
    budget = warmup_seconds(cfg)
    while runs < cfg.warmup_runs or time.perf_counter() - start < budget:
        fn()
        runs += 1


def _sample(fn: Callable[[], object], min_runs: int, min_seconds: float, max_runs: int) -> list[float]:
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max_runs and (len(samples) < min_runs or time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        out = fn()
        samples.append(out.seconds if isinstance(out, DeviceTime) else time.perf_counter() - t0)
    return samples


def summarize(samples: list[float], rounds: tuple[float, ...] = ()) -> Timing:
    samples = sorted(samples)
    return Timing(statistics.median(samples), percentile(samples, 10), percentile(samples, 90), len(samples), rounds)


def time_callable(fn: Callable[[], object], cfg: TimingConfig = TimingConfig()) -> Timing:
    warm_up(fn, cfg)
    return summarize(_sample(fn, cfg.min_runs, cfg.min_seconds, cfg.max_runs))


def time_interleaved(fns: list[Callable[[], object]], cfg: TimingConfig = TimingConfig()) -> list[Timing]:
    """Time every callable in ``cfg.rounds`` alternating rounds; each gets the whole budget in total."""
    for fn in fns:
        warm_up(fn, cfg)
    rounds = max(1, cfg.rounds)
    pooled: list[list[float]] = [[] for _ in fns]
    medians: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        order = list(enumerate(fns)) if r % 2 == 0 else list(enumerate(fns))[::-1]  # no one always goes first
        for i, fn in order:
            got = _sample(fn, -(-cfg.min_runs // rounds), cfg.min_seconds / rounds, -(-cfg.max_runs // rounds))
            pooled[i] += got
            medians[i].append(statistics.median(got))
    return [summarize(s, tuple(m)) for s, m in zip(pooled, medians)]


def time_grouped(fns: list[Callable[[], object]], cfg: TimingConfig, groups: list[Hashable]) -> list[Timing]:
    """``time_interleaved`` within each group (a runtime), one group after the other; Timings in the
    order of ``fns``. Runs of one runtime are compared with each other, never across runtimes, and
    switching runtimes every few runs left each one's threads fighting the other's."""
    out: list[Timing | None] = [None] * len(fns)
    for group in dict.fromkeys(groups):
        members = [i for i, g in enumerate(groups) if g == group]
        for i, timing in zip(members, time_interleaved([fns[i] for i in members], cfg)):
            out[i] = timing
    return out  # type: ignore[return-value]
