"""How a trial's stored early stop is judged against the threshold of the search that reads it."""

from __future__ import annotations

import pytest

from torchslim.search.trials import stopped_below

STOP = "BelowBudget: top-1 80.20% after the first fine-tuning epoch is below 82.36% (the search's ...)"


@pytest.mark.parametrize(
    "note, threshold, expected",
    [
        (STOP, 82.36, True),  # the same search: the stop holds, the chain is not run again
        (STOP, 80.21, True),
        (STOP, 80.20, False),  # a wider margin: the chain reaches the threshold, so it runs on
        (STOP, 79.0, False),
        ("RuntimeError: out of memory", 82.36, False),  # not an early stop: run again
        (None, 82.36, False),
    ],
)
def test_a_stored_early_stop_holds_only_below_the_current_threshold(note, threshold, expected):
    assert stopped_below(note, threshold) is expected
