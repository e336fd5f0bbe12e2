"""Speedup cells: a measured ratio, SLOWER only beyond the measured noise, never a placeholder."""

import pytest

from torchslim.report.detection import speedup


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


REF_ROUNDS = [0.100, 0.104, 0.098, 0.101, 0.103, 0.099, 0.102, 0.100]


@pytest.mark.parametrize(
    "factor, expected",
    [
        (0.5, "2.00x (1.96–2.04)"),  # every round 2x faster, with the rounds' jitter
        (1.25, "0.80x (0.78–0.82) SLOWER"),  # n=8: the interval is the extreme rounds
    ],
)
def test_speedup_cell_from_rounds_carries_the_interval(factor, expected):
    jitter = [1.0, 0.98, 1.02, 1.0, 0.99, 1.01, 1.0, 1.0]
    own_rounds = [r * factor * j for r, j in zip(REF_ROUNDS, jitter)]
    lat = {
        ("finetune", "onnxruntime", 640, 4): timing(100, 95, 105) | {"rounds_s": REF_ROUNDS},
        ("prune.yolo(level=0.5)", "onnxruntime", 640, 4): timing(100 * factor, 90, 110) | {"rounds_s": own_rounds},
    }
    assert speedup(lat, "prune.yolo(level=0.5)", "onnxruntime", 640, 4) == expected


def test_rounds_that_straddle_one_are_within_noise():
    own_rounds = [r * j for r, j in zip(REF_ROUNDS, [0.9, 1.1, 0.95, 1.05, 1.0, 0.92, 1.08, 1.0])]
    lat = {
        ("finetune", "torch", 640, 4): timing(100, 95, 105) | {"rounds_s": REF_ROUNDS},
        ("p", "torch", 640, 4): timing(100, 95, 105) | {"rounds_s": own_rounds},
    }
    cell = speedup(lat, "p", "torch", 640, 4)
    assert cell.endswith("(within noise)") and cell.startswith("1.00x (")
