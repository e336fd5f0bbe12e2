"""Speedup cells: a measured ratio, SLOWER only beyond the measured noise, never a placeholder."""

import pytest

from torchslim.yolo.report import speedup


def timing(median_ms: float, p10_ms: float, p90_ms: float) -> dict:
    return {"median_ms": median_ms, "p10_s": p10_ms / 1e3, "p90_s": p90_ms / 1e3}


@pytest.mark.parametrize(
    "own, expected",
    [
        (timing(50, 48, 52), "2.00x"),
        (timing(120, 115, 125), "0.83x SLOWER"),  # ranges 95-105 and 115-125 do not overlap
        (timing(120, 100, 140), "0.83x (within noise)"),
    ],
)
def test_speedup_cell(own, expected):
    lat = {
        ("finetune", "onnxruntime", 640, 4): timing(100, 95, 105),
        ("prune.yolo(level=0.5)", "onnxruntime", 640, 4): own,
    }
    assert speedup(lat, "prune.yolo(level=0.5)", "onnxruntime", 640, 4) == expected


def test_missing_measurement_says_so():
    assert speedup({}, "prune.yolo(level=0.5)", "torch", 640, 4) == "not measured"
