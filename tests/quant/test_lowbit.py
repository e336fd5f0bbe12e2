"""Low-bit (Brevitas) QAT: QuantCNV at every supported width, the general W{b}A{b} path, clear errors."""

import pytest
import torch

from torchslim.errors import ConfigError
from torchslim.export.checkpoint import save_model
from torchslim.export.onnx import check_parity, export_onnx, ort_session
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, ModelConfig, build_model, describe, load_model
from torchslim.runtimes.deployed import OnnxModel
from torchslim.train import TrainConfig


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quant_cnv_reloads_exactly_and_exports_qcdq_with_parity(bits, tmp_path):
    spec = InputSpec(10, 1, 28)
    cfg = ModelConfig(name="quant_cnv", kwargs={"weight_bits": bits, "act_bits": bits})
    torch.manual_seed(0)
    model = build_model(cfg, spec)
    model.train()(torch.randn(16, *spec.shape))  # let the activation scales move off their init
    model.eval()
    x = torch.randn(4, *spec.shape)
    save_model(model, tmp_path / "m.pt", describe(cfg, spec))
    loaded, _ = load_model(tmp_path / "m.pt")
    assert torch.equal(loaded(x), model(x))
    assert export_onnx(model, torch.zeros(1, *spec.shape), tmp_path / "m.onnx") == "brevitas-qcdq"
    assert check_parity(model, ort_session(tmp_path / "m.onnx", 1), x, "brevitas-qcdq").ok
    # weights really sit on a 2^bits grid: at most that many distinct values per output channel
    w = model.features[0].quant_weight().value
    assert max(len(torch.unique(w[c])) for c in range(w.shape[0])) <= 2**bits


def test_lowbit_method_quantizes_any_model_and_evaluates_the_onnx_file(tmp_path):
    from torchslim.data import BatchLoader, DatasetConfig, build_dataset
    from torchslim.measurement.accuracy import evaluate

    data = build_dataset(DatasetConfig(name="digits"))
    spec = InputSpec(10, 1, 8)
    model = build_model("simple_cnn_6x2", spec)
    ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=64, lr=0.02), 0, tmp_path)
    q = apply_chain(model, Chain.parse({"quant.lowbit": {"weight_bits": 4, "act_bits": 4, "epochs": 2}}), ctx)
    assert isinstance(q, OnnxModel) and q.precision == "w4a4-qcdq"
    onnx_top1 = evaluate(q, BatchLoader(data.eval, data.info, 256)).top1
    torch_top1 = evaluate(q.reference, BatchLoader(data.eval, data.info, 256)).top1
    assert onnx_top1 == pytest.approx(torch_top1, abs=0.6)  # the exported file computes the same network
    assert onnx_top1 > 50.0


@pytest.mark.parametrize("params", [{"weight_bits": 1}, {"act_bits": 16}, {"weight_bits": 0}])
def test_unsupported_bit_width_is_a_clear_error(params):
    with pytest.raises(ConfigError, match="must be one of 2, 3, 4, 5, 6, 7, 8"):
        Chain.parse({"quant.lowbit": params})


def test_unsupported_bit_width_for_quant_cnv():
    with pytest.raises(ConfigError, match="weight_bits must be one of"):
        build_model(ModelConfig(name="quant_cnv", kwargs={"weight_bits": 9}), InputSpec(10, 1, 28))
