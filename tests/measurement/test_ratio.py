"""The speed-ratio function: its interval covers the true ratio, and verdicts respect the interval."""

import math
import random

import pytest

from torchslim.measurement.ratio import (
    SpeedRatio,
    measure_ratio,
    median_interval,
    min_rounds_for,
    ratio_from_rounds,
    verdict,
)


def synthetic_rounds(true_ratio: float, rounds: int, noise: float, rng: random.Random):
    """Per-round medians of A and B on a drifting machine: a common slow-down per round, own noise each."""
    a, b = [], []
    for _ in range(rounds):
        drift = rng.uniform(0.7, 1.4)  # the whole machine up to 2x slower within the run
        a.append(10e-3 * drift * math.exp(rng.gauss(0, noise)))
        b.append(10e-3 / true_ratio * drift * math.exp(rng.gauss(0, noise)))
    return a, b


def test_the_interval_covers_the_true_ratio_in_at_least_90_of_100_seeded_trials():
    covered = 0
    for seed in range(100):
        a, b = synthetic_rounds(3.0, rounds=20, noise=0.08, rng=random.Random(seed))
        r = ratio_from_rounds(a, b)
        covered += r.low <= 3.0 <= r.high
        assert r.rounds == 20 and r.low <= r.ratio <= r.high
    assert covered >= 90, covered


def test_the_verdict_is_inconclusive_when_the_target_sits_inside_the_interval():
    a, b = synthetic_rounds(3.0, rounds=20, noise=0.08, rng=random.Random(7))
    r = ratio_from_rounds(a, b)
    assert r.low < 3.0 < r.high
    assert r.verdict(3.0) == "inconclusive"
    assert r.verdict(r.low * 0.99) == "met" and r.verdict(r.high * 1.01) == "NOT met"


@pytest.mark.parametrize(
    "low, high, target, expected",
    [
        (3.05, 3.41, 3.0, "met"),
        (2.5, 2.9, 3.0, "NOT met"),
        (2.77, 3.41, 3.0, "inconclusive"),
        (3.0, 3.2, 3.0, "inconclusive"),
    ],
)
def test_three_way_verdicts(low, high, target, expected):
    assert verdict(low, high, target) == expected


def test_six_rounds_are_the_fewest_for_95_percent_and_their_range_is_the_interval():
    assert min_rounds_for(0.95) == 6 and min_rounds_for(0.99) == 8
    assert median_interval([5.0, 1.0, 2.0, 4.0, 3.0, 6.0]) == (1.0, 6.0)
    lo, hi = median_interval(list(range(100)))
    assert 38 <= lo < 49.5 < hi <= 61  # the textbook ranks for n=100 are 40 and 61 (1-based)


class FakeMachine:
    """A clock that advances only when a callable 'runs': A takes a_s, B takes b_s, both with noise."""

    def __init__(self, a_s: float, b_s: float, noise: float, seed: int = 0):
        self.t, self.a_s, self.b_s, self.noise = 0.0, a_s, b_s, noise
        self.rng = random.Random(seed)

    def clock(self) -> float:
        return self.t

    def run(self, seconds: float):
        def fn():
            self.t += seconds * math.exp(self.rng.gauss(0, self.noise))

        return fn


def test_rounds_are_added_until_the_interval_is_narrow_enough():
    m = FakeMachine(0.01, 0.004, noise=0.05)
    r = measure_ratio(m.run(0.01), m.run(0.004), rel_width=0.05, budget_s=60, round_s=0.05, clock=m.clock)
    assert r.converged and r.half_width <= 0.05 and r.rounds >= 6
    assert r.low <= 2.5 <= r.high
    assert r.text().startswith(f"{r.ratio:.2f}× (")


def test_a_noisy_machine_and_a_short_budget_say_they_did_not_converge():
    m = FakeMachine(0.01, 0.009, noise=0.6)
    r = measure_ratio(m.run(0.01), m.run(0.009), rel_width=0.01, budget_s=1.0, round_s=0.03, clock=m.clock)
    assert not r.converged and r.half_width > 0.01 and r.within_noise
    assert isinstance(r, SpeedRatio) and r.as_dict()["converged"] is False


def test_several_ratios_share_their_rounds_and_each_gets_an_interval():
    from torchslim.measurement.ratio import measure_ratios

    m = FakeMachine(0.0, 0.0, noise=0.03, seed=3)
    runners = {"fp32": m.run(0.012), "int8": m.run(0.004), "pruned": m.run(0.001)}
    ratios, times = measure_ratios(
        runners, [("fp32", "int8"), ("fp32", "pruned")], rel_width=0.05, budget_s=60, round_s=0.05, clock=m.clock
    )
    assert set(times) == {"fp32", "int8", "pruned"} and len({len(v) for v in times.values()}) == 1
    assert ratios[("fp32", "int8")].low <= 3.0 <= ratios[("fp32", "int8")].high
    assert ratios[("fp32", "pruned")].low <= 12.0 <= ratios[("fp32", "pruned")].high
    assert all(r.converged for r in ratios.values())
