import pytest
import torch

from torchslim.export.checkpoint import save_model
from torchslim.measurement.complexity import count_params
from torchslim.methods import Chain, apply_chain
from torchslim.models import (
    InputSpec,
    ModelConfig,
    build_model,
    default_input,
    describe,
    float_model_names,
    load_model,
)


@pytest.mark.parametrize("name", float_model_names())
def test_70_percent_sparsity_shrinks_the_file(name, make_ctx, tmp_path):
    spec = default_input(name)
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    save_model(model, tmp_path / "dense.pt", describe(ModelConfig(name=name), spec))
    chain = Chain.parse({"prune.unstructured": {"sparsity": 0.7, "finetune_epochs": 0}})
    model = apply_chain(model, chain, make_ctx(spec)).eval()
    total, nonzero = count_params(model)
    assert nonzero < 0.4 * total
    assert not any(hasattr(m, "weight_mask") for m in model.modules())  # masks made permanent
    save_model(model, tmp_path / "sparse.pt", describe(ModelConfig(name=name), spec))
    ratio = (tmp_path / "sparse.pt").stat().st_size / (tmp_path / "dense.pt").stat().st_size
    assert ratio <= 0.45, ratio
    loaded, _ = load_model(tmp_path / "sparse.pt")
    x = torch.randn(2, *spec.shape)
    assert torch.equal(loaded(x), model(x))


def test_finetuning_keeps_pruned_weights_at_zero(make_ctx, digits_data):
    spec = InputSpec(10, 1, 8)
    model = build_model("simple_cnn_6x2", spec)
    ctx = make_ctx(spec, digits_data)
    chain = Chain.parse({"prune.unstructured": {"sparsity": 0.5, "scope": "layer", "finetune_epochs": 1}})
    model = apply_chain(model, chain, ctx)
    w = model.features[0][0].weight
    assert abs(float((w == 0).float().mean()) - 0.5) < 0.02
    assert float((model.classifier[-1].weight == 0).float().mean()) < 0.01  # the output layer is protected
    assert ctx.notes["finetune"][0]["epochs"] == 1
