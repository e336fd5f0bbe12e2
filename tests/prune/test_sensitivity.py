"""Sensitivity analysis: whole coupled groups, honest 'not pruned' rows, per-group ratios, CLI output."""

import json

import pytest
import torch

from tests.conftest import run_cli, tiny_recipe
from torchslim.errors import ConfigError
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec, build_model, default_input
from torchslim.prune.sensitivity import GroupSensitivity, SensitivityConfig, SensitivityRow, analyze
from torchslim.report.sensitivity import sensitivity_markdown


def test_resnet20_groups_are_coupled_and_every_ratio_removes_channels(synthetic_data):
    spec = InputSpec(10, 3, 32)
    torch.manual_seed(0)
    model = build_model("resnet20", spec).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rep = analyze(model, synthetic_data, spec, SensitivityConfig(ratios=[0.25, 0.5], eval_images=16))
    # stem + stage 1 share channels with every residual output of stage 1: one group, many layers
    stem = next(g for g in rep.groups if g.root == "conv1")
    assert len(stem.layers) >= 10
    # 3 residual groups + 9 inner block convolutions; the classifier is protected
    assert len(rep.groups) == 12 and not any(g.root == "fc" for g in rep.groups)
    for g in rep.groups:
        assert [r.ratio for r in g.rows] == [0.25, 0.5]
        assert all(r.channels_removed == int(r.ratio * g.channels) for r in g.rows)
        assert all(r.macs_kept < 1.0 for r in g.rows)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # model left unchanged


def test_a_group_where_nothing_was_removed_is_never_reported_as_robust():
    g = GroupSensitivity("tiny", ["tiny"], 2, [SensitivityRow(0.3, 0, 90.0, 0.0, 1.0)])
    assert not g.prunable and g.suggested_ratio(1.0) == 0.0
    ok = GroupSensitivity(
        "wide", ["wide"], 64, [SensitivityRow(0.3, 19, 89.5, 0.5, 0.8), SensitivityRow(0.5, 32, 80.0, 10.0, 0.6)]
    )
    assert ok.suggested_ratio(1.0) == 0.3 and ok.suggested_ratio(20.0) == 0.5

    from torchslim.prune.sensitivity import SensitivityReport

    rep = SensitivityReport("m", 90.0, 10, SensitivityConfig(ratios=[0.3]).model_dump(), [g])
    text = sensitivity_markdown(rep, "m")
    assert "not pruned" in text and "not prunable" in text and rep.suggested_ratios() == {}


def test_layer_ratios_prune_only_the_named_group(make_ctx):
    spec = default_input("resnet20")
    model = build_model("resnet20", spec).eval()
    chain = Chain.parse({"prune.structured": {"layer_ratios": {"layers.1.0.conv1": 0.5}, "finetune_epochs": 0}})
    model = apply_chain(model, chain, make_ctx(spec))
    assert model.layers[1][0].conv1.out_channels == 16
    assert model.layers[1][1].conv1.out_channels == 32 and model.conv1.out_channels == 16


def test_sensitivity_sets_per_group_ratios(make_ctx):
    spec = default_input("resnet20")
    torch.manual_seed(0)
    model = build_model("resnet20", spec).eval()
    ctx = make_ctx(spec)
    chain = Chain.parse(
        {
            "prune.structured": {
                "sensitivity": {"ratios": [0.5], "eval_images": 16, "max_drop": 100},
                "finetune_epochs": 0,
            }
        }
    )
    model = apply_chain(model, chain, ctx)
    assert set(ctx.notes["layer_ratios"].values()) == {0.5}
    assert model.layers[2][0].conv1.out_channels == 32


@pytest.mark.parametrize("params", [{"ratios": [1.5]}, {"ratios": []}, {"importance": "magic"}])
def test_bad_sensitivity_settings_are_one_clear_error(params):
    with pytest.raises(ConfigError, match="sensitivity"):
        Chain.parse({"prune.structured": {"sensitivity": params}})


def test_cli_writes_table_plot_and_json(write_config, workspace):
    cfg = write_config(tiny_recipe(train={"epochs": 1}, measure={"latency": False}))
    proc = run_cli("sensitivity", str(cfg), "--ratios", "0.25", "0.5", "--eval-images", "100", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    folder = workspace / "runs" / "tiny" / "sensitivity"
    data = json.loads((folder / "simple_cnn_6x2__seed0.json").read_text())
    assert data["eval_images"] == 100 and data["groups"]
    assert all(len(g["rows"]) == 2 for g in data["groups"])
    assert (folder / "simple_cnn_6x2__seed0.png").stat().st_size > 5000
    assert "Pruning sensitivity" in proc.stdout and "ratio 0.25" in proc.stdout


def test_stored_analysis_round_trips_through_json(tmp_path):
    from torchslim.prune.sensitivity import SensitivityReport
    from torchslim.report.sensitivity import report_from_json, write_sensitivity

    g = GroupSensitivity("conv1", ["conv1", "bn1"], 16, [SensitivityRow(0.5, 8, 80.0, 2.0, 0.6)])
    rep = SensitivityReport("m", 82.0, 100, SensitivityConfig(ratios=[0.5]).model_dump(), [g])
    files = write_sensitivity(rep, tmp_path, "m", "m")
    again = report_from_json(files["json"])
    assert again.groups[0].rows[0] == g.rows[0] and again.suggested_ratios(5.0) == {"conv1": 0.5}
