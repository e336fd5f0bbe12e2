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
