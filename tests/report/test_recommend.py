"""Recommendations, ranking and the Pareto frontier follow the measured numbers, not canned text."""

from __future__ import annotations

import pytest

from torchslim.report.entries import group_entries
from torchslim.report.plots import pareto_front
from torchslim.report.recommend import efficiency_ranking, recommend
from torchslim.report.tables import Table, best_cells
from torchslim.store import ResultRow

CHAINS = {
    "baseline": [],
    "quant.static()": [{"name": "quant.static", "params": {}}],
    "prune.structured(ratio=0.5)": [{"name": "prune.structured", "params": {"ratio": 0.5}}],
}


def row(
    chain: str, top1: float, size: float, ort_ms: float, macs: float, seed: int = 0, ov_ms: float | None = None
) -> ResultRow:
    latency = [
        {"runtime": "onnxruntime", "provider": "CPUExecutionProvider", "batch_size": 1, "median_ms": ort_ms},
        {"runtime": "torch", "provider": "eager-cpu", "batch_size": 1, "median_ms": 3 * ort_ms},
    ]
    if ov_ms is not None:
        latency.append({"runtime": "openvino", "provider": "CPU-fp32", "batch_size": 1, "median_ms": ov_ms})
    metrics = {
        "top1": top1,
        "top5": 100.0,
        "file_bytes": size,
        "macs": macs,
        "nonzero_params": macs / 10,
        "latency": latency,
    }
    return ResultRow(
        "h",
        "r",
        "lenet",
        "mnist5k",
        chain,
        seed,
        metrics,
        {"dir": "runs/r/tasks/x", "kind": "torchslim", "model": "model.pt", "onnx": None},
        {"chain": CHAINS[chain]},
        "",
        {},
        {},
    )


def measured(static_size: float, pruned_ms: float, pruned_top1: float = 98.0):
    rows = [
        row("baseline", 98.5, 4e6, 1.0, 6e6),
        row("quant.static()", 98.4, static_size, 0.5, 6e6),
        row("prune.structured(ratio=0.5)", pruned_top1, 1e6, pruned_ms, 2e6),
    ]
    return group_entries(rows)[0]


def picks(group) -> dict[str, str | None]:
    return {r.use_case: r.choice for r in recommend(group)}


def test_recommendations_follow_the_measurements():
    a = picks(measured(static_size=1.03e6, pruned_ms=0.3))
    assert a["Mobile / edge (storage)"] == "Pruning (Struct.) 50%"
    assert a["Latency-critical (fastest deployment, batch 1)"] == "Pruning (Struct.) 50%"
    b = picks(measured(static_size=0.5e6, pruned_ms=0.8))  # INT8 file now smaller, pruned model now slower
    assert b["Mobile / edge (storage)"] == "Quant. (Static) INT8"
    assert b["Latency-critical (fastest deployment, batch 1)"] == "Quant. (Static) INT8"
    assert a != b


def test_the_latency_pick_is_the_fastest_deployment_in_any_runtime_not_onnx_runtimes():
    """Issue 36: ONNX Runtime alone would pick the pruned model (0.3 ms); OpenVINO runs the INT8 file in
    0.1 ms, so the INT8 file deployed there is the pick, and the evidence names the deployment."""
    rows = [
        row("baseline", 98.5, 4e6, 1.0, 6e6, ov_ms=0.9),
        row("quant.static()", 98.4, 1e6, 0.5, 6e6, ov_ms=0.1),
        row("prune.structured(ratio=0.5)", 98.3, 1e6, 0.3, 2e6, ov_ms=0.35),
    ]
    group = group_entries(rows)[0]
    (rec,) = [r for r in recommend(group) if r.use_case.startswith("Latency-critical")]
    assert rec.choice == "Quant. (Static) INT8"
    assert "deploy with OpenVINO CPU-fp32, 0.100 ms, 9.00× vs the original's fastest (OpenVINO CPU-fp32)" in rec.line()


def test_accuracy_budget_excludes_models_and_says_so_when_nothing_qualifies():
    group = measured(static_size=0.5e6, pruned_ms=0.3, pruned_top1=90.0)
    # the pruned model has the fewest MACs but is out of budget; original and INT8 tie, the more accurate wins
    assert picks(group)["Compute budget"] == "Original"
    recs = recommend(group, tolerance=0.05)  # only the original itself is within 0.05 points
    assert {r.choice for r in recs[:4]} == {"Original"}
    rule, ranked = efficiency_ranking(group)
    assert "within 1 point(s)" in rule
    assert [r.entry.label for r in ranked][-1] == "Pruning (Struct.) 50%" and not ranked[-1].within_budget
    assert ranked[0].score == pytest.approx((4e6 / 0.5e6) * (1.0 / 0.5))


def test_without_an_original_there_is_no_recommendation():
    group = group_entries([row("quant.static()", 98.4, 1e6, 0.5, 6e6)])[0]
    (only,) = recommend(group)
    assert only.choice is None and "original model is not in the store" in only.evidence


def test_pareto_front_keeps_only_undominated_points():
    pts = [(6.0, 98.5), (6.0, 98.4), (2.0, 98.0), (3.0, 97.0), (0.7, 97.9)]
    assert pareto_front(pts) == [4, 2, 0]


def test_best_value_per_column_is_bold_and_ties_all_bold():
    assert best_cells([98.4, 98.6, 98.6, None], 2, lower_is_better=False) == {(1, 2), (2, 2)}
    assert best_cells([0.3, 0.1, None], 5, lower_is_better=True) == {(1, 5)}
    t = Table(["a", "b"], [["x", "1"], ["y", "2"]], "lr", bold={(1, 1)})
    assert t.markdown().splitlines()[-1] == "| y | **2** |" and "<b>2</b>" in t.html()


def test_a_slower_model_is_flagged_in_the_speedup_cell():
    from torchslim.report.method_tables import times

    assert times(0.5) == "0.50x SLOWER" and times(2.0) == "2.00x" and times(None) == "—"


def test_close_points_share_one_label():
    from torchslim.report.plots import label_clusters

    groups = label_clusters([(0.155, 98.6), (0.149, 98.6), (0.055, 98.2)], ["Original", "INT8", "Pruned"])
    assert [members for _, members in groups] == [["Pruned"], ["INT8", "Original"]]


@pytest.mark.parametrize(
    "pruned_range, label", [((1.15, 1.25), "0.83x SLOWER"), ((0.95, 1.30), "0.83x (within noise)")]
)
def test_slower_cells_say_whether_the_timing_ranges_overlap(pruned_range, label):
    from torchslim.report.method_tables import speed_cell

    group = measured(static_size=1.03e6, pruned_ms=1.2)
    by_chain = {e.chain: e for e in group.entries}
    by_chain["baseline"].compared, by_chain["baseline"].compared_range = (
        {("onnxruntime", 1): 1.0},
        {("onnxruntime", 1): (0.9, 1.1)},
    )
    pruned = by_chain["prune.structured(ratio=0.5)"]
    pruned.compared, pruned.compared_range = {("onnxruntime", 1): 1.2}, {("onnxruntime", 1): pruned_range}
    assert speed_cell(group, pruned, "onnxruntime", 1) == label
    assert speed_cell(group, by_chain["quant.static()"], "onnxruntime", 1) == "2.00x"  # no range stored: plain ratio


@pytest.mark.parametrize(
    "pruned_rounds, label",
    [
        ((0.50, 0.52, 0.49, 0.51, 0.50, 0.53, 0.50, 0.51), "1.98x (1.89–2.04)"),
        ((1.00, 1.30, 0.90, 1.10, 0.80, 1.20, 1.00, 1.05), "0.98x (0.77–1.25) (within noise)"),
        ((1.20, 1.22, 1.19, 1.25, 1.21, 1.20, 1.23, 1.24), "0.82x (0.80–0.84) SLOWER"),
    ],
    ids=["faster", "within-noise", "slower"],
)
def test_side_by_side_rounds_give_the_speedup_its_interval(pruned_rounds, label):
    from torchslim.report.method_tables import speed_cell

    group = measured(static_size=1.03e6, pruned_ms=1.2)
    by_chain = {e.chain: e for e in group.entries}
    base, pruned = by_chain["baseline"], by_chain["prune.structured(ratio=0.5)"]
    base.compared, base.compared_rounds = {("onnxruntime", 1): 1.0}, {("onnxruntime", 1): (1.0,) * 8}
    pruned.compared = {("onnxruntime", 1): sorted(pruned_rounds)[4]}
    pruned.compared_rounds = {("onnxruntime", 1): pruned_rounds}
    assert speed_cell(group, pruned, "onnxruntime", 1) == label
    assert group.speedup_interval(pruned, "onnxruntime", 1).rounds == 8
