"""IDAP++: divergence matches its formula, rollback is exact, truncation refuses what breaks shapes."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from torchslim.errors import TorchslimError
from torchslim.prune.divergence import conv_divergence, linear_divergence, record_flow
from torchslim.prune.truncation import RemovedBlock, removable_blocks, truncate


def hand_built_conv() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(3), nn.ReLU()).eval(), torch.randn(4, 2, 5, 5)


def test_conv_divergence_matches_the_formula():
    model, x = hand_built_conv()
    conv = model[0]
    a = torch.relu(model[1](conv(x))).detach()  # post-activation map, (N, C, H, W)
    c, h, w = a.shape[1:]
    want_layer = sum(float(a[n].norm()) for n in range(4)) / 4 * float(conv.weight.detach().norm()) / (c * h * w)
    want_filters = torch.stack(
        [a[:, k].flatten(1).norm(dim=1).mean() * conv.weight[k].norm() / (c * h * w) for k in range(3)]
    )
    rec = record_flow(model, [x[:2], x[2:]])
    assert rec.layer_divergence(conv) == pytest.approx(want_layer, rel=1e-5)
    assert torch.allclose(rec.filter_scores(conv), want_filters.detach(), rtol=1e-5)
    assert conv_divergence(a[0], conv.weight) == pytest.approx(float(a[0].norm() * conv.weight.norm() / (c * h * w)))


def test_linear_divergence_matches_the_formula():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU()).eval()
    x = torch.randn(6, 5)
    h = torch.relu(model[0](x)).detach()
    rec = record_flow(model, [x])
    want = sum(float(h[n].norm()) for n in range(6)) / 6 * float(model[0].weight.norm())
    assert rec.layer_divergence(model[0]) == pytest.approx(want, rel=1e-5)
    assert torch.allclose(rec.filter_scores(model[0]), h.abs().mean(0) * model[0].weight.norm(dim=1), rtol=1e-5)
    assert linear_divergence(h[0], model[0].weight) == pytest.approx(float(h[0].norm() * model[0].weight.norm()))


@pytest.fixture(scope="module", params=["resnet20", pytest.param("resnet56", marks=pytest.mark.slow)])
def digits_ctx(request):
    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.models import InputSpec, build_model
    from torchslim.train import TrainConfig, fit

    data = build_dataset(DatasetConfig(name="digits"))
    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    model = build_model(request.param, spec)
    fit(model, data, TrainConfig(epochs=2, batch_size=64, lr=0.05), 0)
    return data, spec, model.eval(), request.param


def make_ctx(digits_ctx, tmp_path):
    from torchslim.methods import MethodContext
    from torchslim.train import TrainConfig

    data, spec, model, _ = digits_ctx
    ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=64, lr=0.01), 0, tmp_path)
    ctx.original = copy.deepcopy(model)
    return ctx, copy.deepcopy(model)


def test_a_step_past_the_budget_is_rolled_back_to_the_exact_weights(digits_ctx, tmp_path):
    from torchslim.methods import Chain, apply_chain

    ctx, model = make_ctx(digits_ctx, tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # prune half the channels with no fine-tuning and no tolerance: the step must be undone
    chain = Chain.parse({"prune.idap": {"steps": 1, "base": 0.5, "finetune_epochs": 0, "max_drop": 0.0}})
    out = apply_chain(model, chain, ctx)
    assert ctx.notes["idap_rollbacks"][0]["stage"] == "filter"
    after = out.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    stages = [d["stage"] for d in ctx.notes["dynamics"]]
    assert stages[0] == "original" and stages[-1] == "rolled back"


def test_a_first_step_that_cuts_nothing_is_an_error_not_a_result(digits_ctx, tmp_path):
    """A generator's transposed convolutions once had no group: every step cut nothing, and MACs stayed 1.0
    in a row that looked like a result."""
    from torchslim.methods import Chain, apply_chain
    from torchslim.prune.targets import layer_widths

    ctx, model = make_ctx(digits_ctx, tmp_path)
    chain = Chain.parse(
        {"prune.idap": {"steps": 1, "base": 0.5, "finetune_epochs": 0, "protect": list(layer_widths(model))}}
    )
    with pytest.raises(TorchslimError, match=r"prune.idap: its first step \(p=0.500\) cut nothing"):
        apply_chain(model, chain, ctx)


def test_truncation_removes_a_block_and_the_model_saves_exports_and_reloads(digits_ctx, tmp_path):
    from torchslim.export.checkpoint import save_model
    from torchslim.export.onnx import export_onnx, ort_session
    from torchslim.methods import Chain, apply_chain
    from torchslim.models import ModelConfig, describe, load_model

    ctx, model = make_ctx(digits_ctx, tmp_path)
    chain = Chain.parse(
        {
            "prune.idap": {
                "steps": 1,
                "base": 0.1,
                "finetune_epochs": 1,
                "max_drop": 100.0,
                "truncation_budget": 1,
                "truncation_epochs": 1,
            }
        }
    )
    out = apply_chain(model, chain, ctx).eval()
    (removed,) = ctx.notes["removed_blocks"]
    assert isinstance(dict(out.named_modules())[removed], RemovedBlock)
    save_model(out, tmp_path / "m.pt", describe(ModelConfig(name=digits_ctx[3]), ctx.spec))
    back, _ = load_model(tmp_path / "m.pt")
    x = torch.randn(3, *ctx.spec.shape)
    assert torch.equal(out(x), back(x))
    export_onnx(back, torch.zeros(1, *ctx.spec.shape), tmp_path / "m.onnx")
    sess = ort_session(tmp_path / "m.onnx", 1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert abs(got - back(x).detach().numpy()).max() < 1e-4


def test_truncating_a_block_that_changes_shape_is_refused(digits_ctx):
    _, spec, model, _ = digits_ctx
    model = copy.deepcopy(model)
    example = torch.zeros(1, *spec.shape)
    candidates = removable_blocks(model, example)
    assert "layers.0.1" in candidates and "layers.1.0" not in candidates  # layers.1.0 halves the resolution
    with pytest.raises(TorchslimError, match=r"cannot replace block 'layers.1.0' with the identity: its shapes differ"):
        truncate(model, "layers.1.0", example)
    with pytest.raises(TorchslimError, match="no such block"):
        truncate(model, "layers.9", example)


def test_linear_on_channels_last_maps_scores_units_on_the_last_axis():
    """ConvNeXt's block linears see (N, H, W, C): a unit is the last axis, not H."""
    torch.manual_seed(2)
    lin = nn.Linear(3, 5)
    model = nn.Sequential(lin, nn.GELU()).eval()
    x = torch.randn(4, 2, 2, 3)
    rec = record_flow(model, [x])
    h = torch.nn.functional.gelu(lin(x)).detach().reshape(-1, 5)
    assert rec.filter_scores(lin).shape == (5,)
    assert torch.allclose(rec.filter_scores(lin), h.abs().mean(0) * lin.weight.norm(dim=1), rtol=1e-5)
