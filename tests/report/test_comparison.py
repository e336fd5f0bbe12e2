"""Seed 004's comparison table: every method's row, its budget, and IDAP++'s verdict with the seed spread."""

import pytest

from torchslim.report.comparison import comparison_sections, comparison_table
from torchslim.report.entries import group_entries
from torchslim.store import ResultRow

CHAINS = {
    "baseline": [],
    "prune.idap(macs_target=0.5)": [{"name": "prune.idap", "params": {"macs_target": 0.5}}],
    "prune.sfp(macs_target=0.5)": [{"name": "prune.sfp", "params": {"macs_target": 0.5}}],
    "prune.obc(macs_target=0.5)": [{"name": "prune.obc", "params": {"macs_target": 0.5}}],
}


def row(chain, seed, test_top1, ms, epochs=3):
    latency = [
        {
            "runtime": "onnxruntime",
            "provider": "CPUExecutionProvider",
            "batch_size": 1,
            "median_ms": ms,
            "p10_ms": ms * 0.95,
            "p90_ms": ms * 1.05,
        }
    ]
    notes = {"finetune": [{"tag": "x", "epochs": epochs}]} if chain != "baseline" else {}
    metrics = {
        "top1": test_top1 + 1,
        "test_top1": test_top1,
        "eval_split": "val",
        "top5": 99.0,
        "file_bytes": 1e6,
        "macs": 2e7,
        "latency": latency,
        "method_notes": notes,
    }
    return ResultRow(
        "h",
        "r",
        "resnet20",
        "imagefolder:../shared/data/cifar10/train",
        chain,
        seed,
        metrics,
        {"dir": "x", "kind": "torchslim", "model": "model.pt", "onnx": None},
        {"chain": CHAINS[chain]},
        "",
        {},
        {},
    )


def table(rows):
    (group,) = group_entries(rows)
    return comparison_table(group, 1)


def test_every_method_has_its_row_with_test_top1_over_seeds_and_its_epochs():
    rows = [row("baseline", s, 91.0 + s * 0.2, 1.0) for s in (0, 1)]
    rows += [row("prune.idap(macs_target=0.5)", s, 90.5 + s * 0.1, 0.5) for s in (0, 1)]
    rows += [row("prune.sfp(macs_target=0.5)", s, 89.0 + s * 0.1, 0.5) for s in (0, 1)]
    rows += [row("prune.obc(macs_target=0.5)", s, 90.45 + s * 0.2, 0.8) for s in (0, 1)]
    t = table(rows)
    assert t.headers[8] == "Top-1 test (%)" and len(t.rows) == 4
    by = {r[2]: r for r in t.rows}
    assert by["Baseline"][8] == "91.10 ± 0.14" and by["Baseline"][9] == "—"
    assert by["Pruning (SFP)"][4] == "3" and by["Pruning (SFP)"][1] == "cifar10"
    assert by["Pruning (SFP)"][9].startswith("top-1 +1.50 pts, IDAP++ better; time 1.00x, within noise")
    assert "within noise" in by["Pruning (OBC)"][9].split(";")[0]  # 90.55 ± 0.07 vs 90.55 ± 0.14: overlapping
    assert "1.60x, IDAP++ faster" in by["Pruning (OBC)"][9]


def test_a_mixed_precision_row_shows_its_packed_size_beside_the_file():
    rows = [
        row("baseline", 0, 91.0, 1.0),
        row("prune.idap(macs_target=0.5)", 0, 90.0, 0.5),
        row("prune.sfp(macs_target=0.5)", 0, 89.0, 0.5),
    ]
    rows[2].metrics["method_notes"] |= {"packed_weight_bytes": 150_000, "packed_weight_bytes_int8": 280_000}
    rows[1].metrics["method_notes"] |= {"packed_weight_bytes": 280_000, "packed_weight_bytes_int8": 280_000}
    by = {r[2]: r for r in table(rows).rows}
    assert by["Pruning (SFP)"][6] == "1.00 MB (packed 0.15 MB)" and by["Pruning (IDAP++)"][6] == "1.00 MB"


def test_one_seed_says_there_is_no_spread():
    rows = [
        row("baseline", 0, 91.0, 1.0),
        row("prune.idap(macs_target=0.5)", 0, 90.0, 0.5),
        row("prune.sfp(macs_target=0.5)", 0, 89.0, 0.5),
    ]
    by = {r[2]: r for r in table(rows).rows}
    assert "(one seed: no spread)" in by["Pruning (SFP)"][9] and by["Pruning (SFP)"][8] == "89.00 (1 seed)"


def test_a_run_without_idap_or_with_one_method_gets_no_comparison():
    one = [row("baseline", 0, 91.0, 1.0), row("prune.idap(macs_target=0.5)", 0, 90.0, 0.5)]
    no_idap = [
        row("baseline", 0, 91.0, 1.0),
        row("prune.sfp(macs_target=0.5)", 0, 89.0, 0.5),
        row("prune.obc(macs_target=0.5)", 0, 89.0, 0.5),
    ]
    assert comparison_sections(group_entries(one)) == [] and comparison_sections(group_entries(no_idap)) == []


@pytest.mark.parametrize("missing", ["test_top1"])
def test_without_a_test_split_the_header_names_the_split_used(missing):
    rows = [
        row("baseline", 0, 91.0, 1.0),
        row("prune.idap(macs_target=0.5)", 0, 90.0, 0.5),
        row("prune.sfp(macs_target=0.5)", 0, 89.0, 0.5),
    ]
    for r in rows:
        del r.metrics[missing]
    assert table(rows).headers[8] == "Top-1 val (%)"
