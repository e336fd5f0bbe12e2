"""The main job end to end (slow: about a minute of training; `make test-slow`)."""

from pathlib import Path

import pytest

from torchslim.config import load_config
from torchslim.runner import run

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


@pytest.mark.slow
def test_quickstart_reaches_97_percent_and_reports(workspace):
    cfg = load_config(QUICKSTART, [f"output_dir={workspace / 'qs'}", f"store={workspace / 'qs.db'}"])
    rows = run(cfg, source="configs/quickstart.yaml")
    # every model x seed x (baseline + each method chain) is stored, once
    assert len(rows) == len(cfg.models) * len(cfg.seeds) * (1 + len(cfg.methods)) == 40
    assert {r.seed for r in rows} == {0, 1} and len({(r.model, r.method_chain, r.seed) for r in rows}) == 40
    assert all(r.metrics["top1"] >= 97.0 for r in rows), [r.metrics["top1"] for r in rows]
    report = (workspace / "qs" / "report.md").read_text()
    assert "| enhanced_lenet5 | mnist5k | Original |" in report and "±" in report
    assert (workspace / "qs" / "report.html").stat().st_size > 10_000
