"""Seed 000's per-model table says on which split its accuracy was measured, and prefers the test split."""

import pytest

from tests.report.test_recommend import row
from torchslim.report.entries import group_entries
from torchslim.report.method_tables import methods_table


def table_for(extra: dict):
    rows = [row("baseline", 98.5, 4e6, 1.0, 6e6), row("prune.structured(ratio=0.5)", 97.0, 1e6, 0.5, 2e6)]
    for r in rows:
        r.metrics |= extra
    return methods_table(group_entries(rows)[0])


@pytest.mark.parametrize(
    "extra,header,first",
    [
        ({"eval_split": "test"}, "Top-1 test (%)", "98.50"),  # mnist5k: its evaluation split is its test split
        ({"eval_split": "val"}, "Top-1 val (%)", "98.50"),  # an image folder without a test root
        ({"eval_split": "val", "test_top1": 91.25}, "Top-1 test (%)", "91.25"),  # with dataset.test_root
    ],
)
def test_the_accuracy_column_names_its_split_and_shows_test_where_measured(extra, header, first):
    table = table_for(extra)
    assert table.headers[2] == header and "Val. Acc." not in " ".join(table.headers)
    assert table.rows[0][2].startswith(first)
