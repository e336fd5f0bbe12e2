"""Depth pruning: the block whose bypass changes nothing goes first, the count is exact, protection holds."""

from __future__ import annotations

import copy

import pytest
import torch

from torchslim.errors import TorchslimError
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, ModelConfig, build_model, describe, load_model
from torchslim.prune.depth import bypass_scores
from torchslim.prune.truncation import RemovedBlock, removable_blocks
from torchslim.train import TrainConfig, fit


@pytest.fixture(scope="module")
def trained(digits_data):
    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    model = build_model("resnet20", spec)
    fit(model, digits_data, TrainConfig(epochs=2, batch_size=64, lr=0.05), 0)
    return spec, model.eval()


@pytest.fixture(scope="module")
def digits_data():
    from torchslim.data import DatasetConfig, build_dataset

    return build_dataset(DatasetConfig(name="digits"))


def run(model, spec, data, tmp_path, **settings):
    ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=64, lr=0.01), 0, tmp_path)
    chain = Chain.parse({"prune.depth": {"finetune_epochs": 0, "calibration_samples": 64} | settings})
    return apply_chain(copy.deepcopy(model), chain, ctx).eval(), ctx


def silence(model, block: str) -> None:
    """Zero a residual block's branch: relu(x + 0) = x on its non-negative input, so bypassing it changes nothing."""
    bn = dict(model.named_modules())[block].bn2
    torch.nn.init.zeros_(bn.weight)
    torch.nn.init.zeros_(bn.bias)


@pytest.mark.parametrize("importance", ["kl", "flow"])
def test_removes_exactly_the_asked_number_of_blocks(trained, digits_data, tmp_path, importance):
    spec, model = trained
    out, ctx = run(model, spec, digits_data, tmp_path, blocks=3, importance=importance)
    removed = ctx.notes["removed_blocks"]
    assert len(removed) == 3 and len(set(removed)) == 3
    assert all(isinstance(dict(out.named_modules())[n], RemovedBlock) for n in removed)
    assert out(torch.zeros(2, *spec.shape)).shape == (2, 10)


def test_a_block_whose_bypass_changes_nothing_goes_first(trained, digits_data, tmp_path):
    spec, model = trained
    model = copy.deepcopy(model)
    silence(model, "layers.2.1")
    out, ctx = run(model, spec, digits_data, tmp_path, blocks=1)
    assert ctx.notes["removed_blocks"] == ["layers.2.1"]
    assert ctx.notes["depth_scores"][0]["kl"] < 1e-7
    x = torch.randn(4, *spec.shape)
    assert torch.allclose(out(x), model(x), atol=1e-5)  # removing it left the function as it was


def test_kl_scores_are_zero_for_a_silent_block_and_positive_for_the_others(trained, digits_data):
    from torchslim.data.sampling import calibration_images

    spec, model = trained
    model = copy.deepcopy(model)
    silence(model, "layers.0.1")
    names = removable_blocks(model, torch.zeros(1, *spec.shape))
    scores = bypass_scores(model, names, calibration_images(digits_data, 64, 0))
    assert scores["layers.0.1"] < 1e-7
    assert min(v for k, v in scores.items() if k != "layers.0.1") > 1e-6


def test_protected_blocks_stay(trained, digits_data, tmp_path):
    spec, model = trained
    model = copy.deepcopy(model)
    silence(model, "layers.2.1")
    _, ctx = run(model, spec, digits_data, tmp_path, blocks=2, protect=["layers.2"])
    assert not any(n.startswith("layers.2") for n in ctx.notes["removed_blocks"])


def test_more_blocks_than_the_model_has_is_one_clear_error(trained, digits_data, tmp_path):
    spec, model = trained
    n = len(removable_blocks(model, torch.zeros(1, *spec.shape)))
    with pytest.raises(
        TorchslimError, match=r"prune.depth: CifarResNet has \d+ removable block\(s\) .*, 40 were asked"
    ):
        run(model, spec, digits_data, tmp_path, blocks=40)
    assert n < 40


def test_a_depth_pruned_model_saves_reloads_and_exports(trained, digits_data, tmp_path):
    from torchslim.export.onnx import export_onnx, ort_session

    spec, model = trained
    out, _ = run(model, spec, digits_data, tmp_path, blocks=2, finetune_epochs=1)
    path = tmp_path / "m.pt"
    from torchslim.export.checkpoint import save_model

    save_model(out, path, describe(ModelConfig(name="resnet20"), spec))
    back, _ = load_model(path)
    x = torch.randn(3, *spec.shape)
    assert torch.equal(out(x), back(x))
    export_onnx(back, torch.zeros(1, *spec.shape), tmp_path / "m.onnx")
    sess = ort_session(tmp_path / "m.onnx", 1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert abs(got - back(x).detach().numpy()).max() < 1e-4
