import pytest

from torchslim.measurement.timing import (
    Timing,
    TimingConfig,
    percentile,
    time_callable,
    time_grouped,
    time_interleaved,
    warm_up,
    warmup_seconds,
)


def test_percentile_interpolates():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(values, 50) == 3.0 and percentile(values, 10) == 1.4 and percentile(values, 90) == 4.6


def test_time_callable_runs_at_least_min_runs_after_warmup():
    calls = []
    t = time_callable(lambda: calls.append(1), TimingConfig(warmup_runs=3, warmup_seconds=0, min_runs=7, min_seconds=0))
    assert t.runs == 7 and len(calls) == 10
    assert t.p10_s <= t.median_s <= t.p90_s


def test_noise_flag_follows_the_spread():
    assert not Timing(1.0, 0.95, 1.05, 10).noisy
    assert Timing(1.0, 0.8, 1.3, 10).noisy
    assert abs(Timing(1.0, 0.9, 1.1, 10).spread - 0.2) < 1e-12


def test_interleaved_rounds_alternate_and_pool_every_sample():
    order = []
    fns = [lambda: order.append("a"), lambda: order.append("b")]
    cfg = TimingConfig(warmup_runs=1, warmup_seconds=0, min_runs=6, min_seconds=0, rounds=3)
    ta, tb = time_interleaved(fns, cfg)
    assert ta.runs == 6 and tb.runs == 6
    timed = order[2:]  # after one warm-up call each
    # the order flips each round (AB, BA, AB): neither always runs first
    assert timed == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
    assert len(ta.rounds_s) == len(tb.rounds_s) == 3 and all(x >= 0 for x in ta.rounds_s)


def test_allocator_setting_is_accepted_on_glibc():
    import platform

    from torchslim.measurement.allocator import keep_freed_memory

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


@pytest.mark.parametrize(
    "cfg, seconds",
    [
        (TimingConfig(), 0.5),  # min_seconds 2.0: the full half second
        (TimingConfig(min_seconds=0.3), 0.15),  # the demo's budget: half of it
        (TimingConfig(min_seconds=0.3, warmup_seconds=0.4), 0.4),  # an explicit warm-up wins
    ],
)
def test_the_warm_up_is_at_most_half_the_timed_budget(cfg, seconds):
    assert warmup_seconds(cfg) == pytest.approx(seconds)


def test_a_short_budget_still_warms_up_its_minimum_runs():
    calls = []
    warm_up(lambda: calls.append(1), TimingConfig(warmup_runs=4, min_seconds=0))
    assert len(calls) == 4


def test_grouped_timing_finishes_one_group_before_the_next_and_keeps_the_order():
    order = []
    fns = [lambda n=n: order.append(n) for n in ("torch-a", "ort-a", "torch-b", "ort-b")]
    cfg = TimingConfig(warmup_runs=1, warmup_seconds=0, min_runs=2, min_seconds=0, rounds=2)
    timings = time_grouped(fns, cfg, ["torch", "ort", "torch", "ort"])
    assert [t.runs for t in timings] == [2, 2, 2, 2]
    first_ort = order.index("ort-a")
    assert set(order[:first_ort]) == {"torch-a", "torch-b"} and set(order[first_ort:]) == {"ort-a", "ort-b"}
