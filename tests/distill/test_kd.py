"""Knowledge distillation: the loss is Hinton's, and the teacher can be any stored model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchslim.errors import TorchslimError


def test_kd_loss_reduces_to_its_parts():
    from torchslim.train.distillation import kd_loss

    torch.manual_seed(0)
    teacher = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    logits = teacher(x)
    ce = nn.functional.cross_entropy(logits, y)
    assert float(kd_loss(teacher, 4.0, 0.0)(logits, y, x)) == pytest.approx(float(ce), rel=1e-6)
    assert float(kd_loss(teacher, 4.0, 1.0)(logits, y, x)) == pytest.approx(0.0, abs=1e-6)  # student == teacher


def test_a_stored_model_teaches_and_a_mismatched_one_is_refused(tmp_path):
    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.export.checkpoint import save_model
    from torchslim.methods import Chain, MethodContext, apply_chain
    from torchslim.models import InputSpec, ModelConfig, build_model, describe
    from torchslim.train import TrainConfig, fit

    data = build_dataset(DatasetConfig(name="digits"))
    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    teacher = build_model("simple_cnn_6x2", spec)
    fit(teacher, data, TrainConfig(epochs=2, batch_size=64, lr=0.05), 0)
    save_model(teacher, tmp_path / "teacher.pt", describe(ModelConfig(name="simple_cnn_6x2"), spec))
    wrong = build_model("simple_cnn_6x2", InputSpec(3, 1, 8))
    save_model(wrong, tmp_path / "wrong.pt", describe(ModelConfig(name="simple_cnn_6x2"), InputSpec(3, 1, 8)))
    student = build_model("simple_cnn_6x2", spec)
    ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=64, lr=0.05), 0, tmp_path)
    out = apply_chain(student, Chain.parse({"distill.kd": {"epochs": 2, "teacher": str(tmp_path / "teacher.pt")}}), ctx)
    assert ctx.notes["finetune"][0]["tag"] == "kd" and ctx.notes["finetune"][0]["top1"] > 50.0
    assert out is student
    with pytest.raises(TorchslimError, match="predicts 3 classes, the student 10"):
        apply_chain(student, Chain.parse({"distill.kd": {"teacher": str(tmp_path / "wrong.pt")}}), ctx)
    with pytest.raises(TorchslimError, match="no teacher"):
        apply_chain(student, Chain.parse({"distill.kd": {}}), ctx)
