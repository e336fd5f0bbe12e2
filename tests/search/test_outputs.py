"""The pick and its rule from judged trials: the cheapest within budget, or the closest when none is."""

from __future__ import annotations

from torchslim.config.search import SearchConfig
from torchslim.search.outputs import choose
from torchslim.search.trials import COMPLETE, PRUNED, Judged


def trial(number, drop, macs, state=COMPLETE):
    top1 = None if state != COMPLETE else 90.0 - drop
    return Judged(number, [], f"chain{number}", f"h{number}", state, top1=top1, drop=drop, value=macs, macs=macs)


def test_the_cheapest_trial_within_budget_is_picked_and_the_next_chain_is_runner_up():
    trials = [trial(0, 0.2, 5e6), trial(1, 2.0, 1e6), trial(2, 0.9, 3e6), trial(3, 0.0, 4e6)]
    pick, runner_up, rule = choose(trials, SearchConfig(objective="macs", max_drop=1.0))
    assert (pick.number, runner_up.number) == (2, 3)
    assert rule == "Picked: the fewest MACs among the trials within 1 points of the baseline's top-1."


def test_an_impossible_budget_names_the_closest_trial():
    trials = [trial(0, 3.5, 5e6), trial(1, 1.25, 2e6), trial(2, None, None, PRUNED)]
    pick, runner_up, rule = choose(trials, SearchConfig(objective="macs", max_drop=0.5))
    assert pick is None and runner_up is None
    assert "No trial met the budget" in rule
    assert "The closest was trial 1, chain1: top-1 88.75% (-1.25 points against a budget of 0.5), 2.000 M." in rule
    none_done = choose([trial(0, None, None, PRUNED)], SearchConfig(objective="macs", max_drop=0.5))[2]
    assert "No trial finished" in none_done and "loosen max_drop" in none_done


def _ratio(value, low, high):
    from torchslim.measurement.ratio import SpeedRatio

    return SpeedRatio(value, low, high, rounds=8, confidence=0.95, rel_width=0.03, converged=True)


def test_a_runner_up_within_noise_and_more_accurate_becomes_the_pick(monkeypatch, tmp_path):
    """The fastest by a hair is often the deepest cut, with the least budget left for the other seeds."""
    from torchslim.search import outputs

    measured = {
        ("base", "pick"): _ratio(5.0, 4.8, 5.2),
        ("base", "runner_up"): _ratio(4.9, 4.7, 5.1),
        ("runner_up", "pick"): _ratio(1.02, 0.99, 1.06),
    }
    monkeypatch.setattr(outputs, "time_against", lambda rows, pairs, *a: ({p: measured[p] for p in pairs}, {}))
    search = SearchConfig(objective="latency:onnxruntime:b1", max_drop=0.5)
    fast, accurate = trial(3, 0.4, 1.0), trial(31, -0.2, 1.02)
    for t in (fast, accurate):
        t.speedup = {"ratio": 5.0, "low": 4.8, "high": 5.2}
    pick, runner_up, rule = choose([fast, accurate], search)
    assert (pick.number, runner_up.number) == (3, 31)
    assert rule.endswith("the more accurate when the two re-time within noise.")
    result = outputs.SearchResult([fast, accurate], [], pick, runner_up, rule, 90.0, tmp_path)
    rows = {"base": "b", "pick": "row3", "runner_up": "row31"}
    outputs.retime(result, rows, search, None)
    assert (result.pick.number, result.runner_up.number, result.handed_over) == (31, 3, True)
    assert rows == {"base": "b", "pick": "row31", "runner_up": "row3"}
    assert result.pick_speedup.ratio == 4.9 and round(result.pick_vs_runner_up.ratio, 4) == round(1 / 1.02, 4)
    assert "so the more accurate is the pick" in outputs.summary(result, search)
    # a runner-up clearly slower, or less accurate, leaves the pick alone
    for slower, other in (
        (_ratio(1.2, 1.1, 1.3), trial(31, -0.2, 1.2)),
        (measured[("runner_up", "pick")], trial(31, 0.45, 1.02)),
    ):
        measured[("runner_up", "pick")] = slower
        result = outputs.SearchResult([fast, other], [], fast, other, rule, 90.0, tmp_path)
        outputs.retime(result, {"base": "b", "pick": "row3", "runner_up": "row31"}, search, None)
        assert (result.pick.number, result.handed_over) == (3, False)
