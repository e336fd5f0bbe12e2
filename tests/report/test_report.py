import math

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


def test_delta_is_paired_by_seed():
    from torchslim.report.markdown import _paired_delta
    from torchslim.store import ResultRow

    def row(seed, top1):
        return ResultRow("h", "r", "m", "d", "x", seed, {"top1": top1}, {}, {}, "", {}, {})

    assert _paired_delta([row(0, 98.1)], {0: 98.6, 1: 98.2}) == "-0.50"
    assert _paired_delta([row(2, 98.1)], {0: 98.6}) == "no baseline"


def test_a_slower_compressed_model_is_flagged_not_hidden():
    from torchslim.report.markdown import _speedup_cell

    assert _speedup_cell(1.0, 2.0) == "0.50x SLOWER than baseline"
    assert _speedup_cell(2.0, 1.0) == "2.00x" and _speedup_cell(None, 1.0) == "—"


def test_low_bit_rows_show_the_deployed_file_size():
    from torchslim.report.markdown import _file_cell

    assert _file_cell({"file_bytes": 6_200_000, "onnx_bytes": 1_600_000, "onnx_top1": 98.4}) == "1.60 (QCDQ ONNX)"
    assert _file_cell({"file_bytes": 4_030_000}) == "4.03" and _file_cell({}) == "not measured"
