from torchslim.measure.timing import Timing, TimingConfig, percentile, time_callable


def test_percentile_interpolates():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(values, 50) == 3.0 and percentile(values, 10) == 1.4 and percentile(values, 90) == 4.6


def test_time_callable_runs_at_least_min_runs_after_warmup():
    calls = []
    t = time_callable(lambda: calls.append(1), TimingConfig(warmup_runs=3, warmup_seconds=0, min_runs=7,
                                                            min_seconds=0))
    assert t.runs == 7 and len(calls) == 10
    assert t.p10_s <= t.median_s <= t.p90_s


def test_noise_flag_follows_the_spread():
    assert not Timing(1.0, 0.95, 1.05, 10).noisy
    assert Timing(1.0, 0.8, 1.3, 10).noisy
    assert abs(Timing(1.0, 0.9, 1.1, 10).spread - 0.2) < 1e-12
