import math
import re

import pytest

from torchslim.report.stats import SeedStats
from torchslim.report.tables import human_count, markdown_table


def test_mean_and_sample_std_match_seed_002():
    # MobileNetV1 row of seed 002: 90.85, 91.25, 90.64 -> 90.91 +- 0.31 (sample std)
    s = SeedStats((90.85, 91.25, 90.64))
    assert s.format() == "90.91 ± 0.31"
    assert math.isclose(s.std, 0.3099, abs_tol=1e-4)


def test_single_seed_says_so_instead_of_a_placeholder():
    assert SeedStats((93.0,)).format() == "93.00 (1 seed)"


def test_missing_or_nan_values_refuse_to_format():
    with pytest.raises(ValueError):
        SeedStats(()).format()
    with pytest.raises(ValueError):
        SeedStats((1.0, float("nan"))).format()


def test_markdown_table_alignment():
    text = markdown_table(["a", "b"], [[1, 2]], "lr")
    assert text.splitlines()[1] == "| :--- | ---: |"
    assert text.splitlines()[2] == "| 1 | 2 |"


def test_human_count():
    assert human_count(1_005_802) == "1.01 M" and human_count(512) == "512"


def test_entries_that_would_read_the_same_are_told_apart_by_their_differing_settings():
    from torchslim.report.entries import group_entries
    from torchslim.store import ResultRow

    def row(chain: str, calibration: str) -> ResultRow:
        steps = [{"name": "quant.static", "params": {"calibration": calibration, "calibration_samples": 512}}]
        return ResultRow("h", "r", "lenet", "mnist5k", chain, 0, {"top1": 98.0}, {}, {"chain": steps}, "", {}, {})

    rows = [
        row('quant.static(calibration="minmax")', "minmax"),
        row('quant.static(calibration="entropy")', "entropy"),
        ResultRow(
            "h",
            "r",
            "lenet",
            "mnist5k",
            "prune.unstructured(sparsity=0.5)",
            0,
            {"top1": 97.0},
            {},
            {"chain": [{"name": "prune.unstructured", "params": {"sparsity": 0.5}}]},
            "",
            {},
            {},
        ),
    ]
    labels = [e.label for e in group_entries(rows)[0].entries]
    assert labels == [
        "Quant. (Static) · calibration=minmax INT8",
        "Quant. (Static) · calibration=entropy INT8",
        "Pruning (Unstr.) 50%",
    ]


def test_the_ratio_chart_plots_the_interval_it_draws(tmp_path):
    """The ratio of two medians can lie outside the interval of the per-round ratios (seen on a loaded
    machine: matplotlib refused the negative error bar); the point is the interval's own ratio."""
    from types import SimpleNamespace

    from torchslim.measurement.ratio import ratio_from_rounds
    from torchslim.report.plots import ratio_speedup_plot

    interval = ratio_from_rounds([2.0, 2.1, 2.2, 2.0, 2.1, 2.3, 2.2, 2.1], [1.0] * 8)
    entry = SimpleNamespace(is_pruning=True, prune_fraction=0.5, method="Pruning (Struct.)")
    group = SimpleNamespace(
        batch_sizes=[1],
        measured=[entry],
        model="m",
        dataset="d",
        speedup=lambda e, rt, b: 1.5,  # below the interval
        speedup_interval=lambda e, rt, b: interval,
    )
    path = ratio_speedup_plot(group, tmp_path / "ratio.png")
    assert path is not None and path.stat().st_size > 1000


def test_a_markdown_cell_cannot_split_its_row_nor_carry_html():
    from torchslim.report.tables import Table

    md = Table(["Method", "Top-1"], [["prune|evil <script>alert(1)</script>", "90.00"]]).markdown()
    row = md.splitlines()[2]
    assert row.count(" | ") == 1 and "<script>" not in md  # two cells, as the header has
    assert "prune\\|evil &lt;script&gt;" in row


def test_headings_paragraphs_captions_and_charts_in_report_md_carry_no_html_or_markup(tmp_path):
    """Issue 35, defect 6 (the rest of it): labels outside table cells were written raw."""
    from torchslim.report.charts import BarChart
    from torchslim.report.document import Document, Figure, Section, Text, to_markdown

    evil = "run <img src=x onerror=alert(1)>"
    doc = Document(
        evil,
        f"intro {evil}",
        [
            Section(f"model {evil}\n# injected heading", [Text(f"a **label** {evil}")]),
            Section("charts", [BarChart(f"chart {evil}", ["a```\n# out", "b"], [1.0, 2.0])]),
            Section("figs", [Figure(tmp_path / "f.png", f"caption] {evil}")]),
        ],
    )
    md = to_markdown(doc, tmp_path)
    outside = re.sub(r"````text\n.*?\n````\n", "", md, flags=re.S)  # a fenced block shows its text as text
    assert (
        "<img" not in outside and outside.count("&lt;img src=x onerror=alert(1)&gt;") == 6
    )  # title, intro, heading, text, caption x2
    assert "\n# injected heading" not in md  # a newline in a heading does not start another
    fence = next(line for line in md.splitlines() if line.endswith("text"))
    assert fence == "````text" and md.count("\n````\n") == 1  # the chart's backticks cannot close it
    assert "![caption\\] run" in md
