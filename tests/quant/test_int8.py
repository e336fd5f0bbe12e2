"""INT8 methods over the method registry: deployed ONNX artifacts, a quarter of the size, clear errors."""

import pytest
import torch

from torchslim.errors import ConfigError
from torchslim.methods import METHODS, Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, build_model
from torchslim.quant.fakequant import ActObserverFQ, convert_to_float, prepare_qat, set_phase
from torchslim.runtimes.deployed import OnnxModel
from torchslim.train import TrainConfig

INT8 = [n for n in METHODS.names() if n in ("quant.static", "quant.dynamic", "quant.qat")]


@pytest.fixture(scope="module")
def digits():
    from torchslim.data import DatasetConfig, build_dataset

    return build_dataset(DatasetConfig(name="digits"))


def trained_cnn(digits):
    from torchslim.train import fit

    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    model = build_model("simple_cnn_6x2", spec)
    fit(model, digits, TrainConfig(epochs=3, batch_size=64, lr=0.05), seed=0)
    return model.eval(), spec


@pytest.mark.parametrize("name", INT8)
def test_int8_methods_give_an_onnx_artifact_that_keeps_accuracy(name, digits, tmp_path):
    from torchslim.data import BatchLoader
    from torchslim.measurement.accuracy import evaluate

    model, spec = trained_cnn(digits)
    loader = BatchLoader(digits.eval, digits.info, 256)
    float_top1 = evaluate(model, loader).top1
    ctx = MethodContext(digits, spec, TrainConfig(epochs=1, batch_size=64, lr=0.01, schedule="cosine"), 0, tmp_path)
    params = {"epochs": 1} if name == "quant.qat" else {}
    q = apply_chain(model, Chain.parse({name: params}), ctx)
    assert isinstance(q, OnnxModel) and q.onnx_path.exists()
    top1 = evaluate(q, loader).top1
    assert top1 >= float_top1 - 3.0, (name, float_top1, top1)
    if name != "quant.dynamic":  # static and QAT quantize every conv and linear
        ops = ctx.notes["quantized_ops"]
        assert ops["dequantize"] >= 2 * ops["float_weighted"]
    if name == "quant.qat":  # the deployed file uses the activation ranges QAT trained with
        assert ctx.notes["qat_ranges"] == f"{ops['float_weighted']} activation ranges from QAT"


def test_qat_distils_from_the_float_model_it_started_from(digits, tmp_path, monkeypatch):
    import torchslim.methods.context as kd  # the module that calls kd_loss (MethodContext.teacher_loss)

    model, spec = trained_cnn(digits)
    x = torch.randn(8, 1, 8, 8)
    with torch.no_grad():
        want = model(x)
    real, seen = kd.kd_loss, {}

    def spy(teacher, temperature, alpha, label_smoothing=0.0):
        with torch.no_grad():
            seen.update(out=teacher(x), temperature=temperature, alpha=alpha)
        return real(teacher, temperature, alpha, label_smoothing)

    monkeypatch.setattr(kd, "kd_loss", spy)
    ctx = MethodContext(digits, spec, TrainConfig(epochs=1, batch_size=64, lr=0.01, schedule="cosine"), 0, tmp_path)
    q = apply_chain(model, Chain.parse({"quant.qat": {"epochs": 1, "kd_alpha": 0.5, "kd_temperature": 2.0}}), ctx)
    assert isinstance(q, OnnxModel)
    assert (seen["temperature"], seen["alpha"]) == (2.0, 0.5)
    assert torch.allclose(seen["out"], want)  # the float model, not its fake-quantized copy


def test_qat_ranges_map_only_one_to_one():
    from torchslim.quant.qat import match_ranges

    assert match_ranges(["a", "b"], [(-1.0, 2.0), (0.0, 3.0)]) == {"a": (-1.0, 2.0), "b": (0.0, 3.0)}
    assert match_ranges(["a", "a"], [(-1.0, 2.0), (0.0, 3.0)]) == {"a": (-1.0, 3.0)}  # one tensor, two layers
    assert match_ranges(["a"], [(-1.0, 2.0), (0.0, 3.0)]) == {} and match_ranges(["a"], [None]) == {}


def test_static_int8_file_is_about_a_quarter(digits, tmp_path):
    from torchslim.export.onnx import export_onnx

    model, spec = trained_cnn(digits)
    export_onnx(model, torch.zeros(1, *spec.shape), tmp_path / "fp32.onnx")
    ctx = MethodContext(digits, spec, TrainConfig(), 0, tmp_path)
    q = apply_chain(model, Chain.parse({"quant.static": {"calibration": "percentile"}}), ctx)
    ratio = q.onnx_path.stat().st_size / (tmp_path / "fp32.onnx").stat().st_size
    assert ratio <= 0.32, ratio


def test_dynamic_reports_which_layers_it_touched(digits, tmp_path):
    model, spec = trained_cnn(digits)
    ctx = MethodContext(digits, spec, TrainConfig(), 0, tmp_path)
    apply_chain(model, Chain.parse({"quant.dynamic": {}}), ctx)
    assert "weighted layers run in INT8" in ctx.notes["touched"]
    assert ctx.notes["quantized_ops"]["integer"] >= 1  # the linear head


def test_qat_modules_are_exact_when_fake_quant_is_off():
    spec = InputSpec(10, 3, 32)
    torch.manual_seed(0)
    model = build_model("resnet20", spec).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, *spec.shape)
    ref = model(x)
    q = prepare_qat(model)
    for m in q.modules():
        if hasattr(m, "enabled"):
            m.enabled = False
    set_phase(q, observers=False, bn_stats=False)
    assert torch.allclose(q(x), ref, atol=1e-4)
    f = convert_to_float(q).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in f.modules())
    assert torch.allclose(f(x), ref, atol=1e-4)


def test_activation_observer_freezes():
    obs = ActObserverFQ().train()
    obs(torch.tensor([0.0, 2.0]))
    obs.observing = False
    obs(torch.tensor([0.0, 100.0]))
    assert float(obs.hi) == 2.0
    y = obs(torch.tensor([1.0, 50.0]))
    assert float(y[1]) == pytest.approx(2.0, abs=0.01)  # clipped to the frozen range


@pytest.mark.parametrize(
    "params, match",
    [
        ({"quant.static": {"calibration_samples": 0}}, "calibration_samples"),
        ({"quant.static": {"calibration": "kl"}}, "calibration"),
        ({"quant.qat": {"freeze_observers_after": 3, "freeze_bn_after": 1}}, "freeze_bn_after"),
    ],
)
def test_bad_int8_settings_are_one_clear_error(params, match):
    with pytest.raises(ConfigError, match=match):
        Chain.parse(params)


def test_deployed_method_must_end_the_chain():
    with pytest.raises(ConfigError, match="must be the last step"):
        Chain.parse([{"quant.static": {}}, {"prune.structured": {"ratio": 0.5}}])
