"""Every registered model exports to ONNX and matches PyTorch on a real batch."""

import pytest
import torch

from torchslim.export.onnx import check_parity, export_onnx, ort_session
from torchslim.measurement.bench import parity_batch
from torchslim.models import MODELS, build_model, default_input


@pytest.mark.parametrize("name", MODELS.names())
def test_export_and_parity(name, tmp_path):
    spec = default_input(name)
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    exporter = export_onnx(model, torch.zeros(1, *spec.shape), tmp_path / "m.onnx")
    parity = check_parity(model, ort_session(tmp_path / "m.onnx", 1), parity_batch(spec, 4), exporter)
    assert parity.ok, parity


def test_parity_failure_is_flagged_not_hidden(tmp_path):
    spec = default_input("resnet20")
    model = build_model("resnet20", spec).eval()
    exporter = export_onnx(model, torch.zeros(1, *spec.shape), tmp_path / "m.onnx")
    with torch.no_grad():
        model.fc.bias += 1.0  # the ONNX file no longer matches the module
    parity = check_parity(model, ort_session(tmp_path / "m.onnx", 1), parity_batch(spec, 4), exporter)
    assert not parity.ok and parity.max_abs_diff == pytest.approx(1.0, abs=1e-3)
