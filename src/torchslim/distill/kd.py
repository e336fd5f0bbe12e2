"""Hinton's knowledge distillation: soft targets of a teacher at temperature T, plus the labels.

loss = (1 - α) · CE(student, y) + α · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

``distill.kd`` fine-tunes the model a chain hands it (a pruned model, say) against a teacher: the
chain's original trained model by default, or any stored torchslim model file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from torch import nn

from torchslim.backends.brevitas import require_float
from torchslim.errors import TorchslimError
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.models import load_model


class KDConfig(MethodConfig):
    """Hinton KD: fine-tune against a teacher's soft targets (temperature, weight, epochs)."""

    epochs: int = Field(3, ge=1, description="distillation epochs (fine-tuning settings of the recipe)")
    temperature: float = Field(4.0, gt=0, description="softmax temperature of both models' logits (T)")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the soft-target term; 1 - alpha on the labels")
    teacher: Path | None = Field(None, description="a torchslim model file; default: the chain's original model")


def load_teacher(cfg: KDConfig, ctx: MethodContext) -> nn.Module:
    if cfg.teacher is None:
        if ctx.original is None:
            raise TorchslimError("distill.kd: no teacher: give teacher: PATH to a torchslim model file")
        return ctx.original
    teacher, spec = load_model(cfg.teacher)
    if spec.num_classes != ctx.spec.num_classes:
        raise TorchslimError(
            f"distill.kd: teacher {cfg.teacher} predicts {spec.num_classes} classes, the student {ctx.spec.num_classes}"
        )
    return teacher


@register_method(
    "distill.kd",
    KDConfig,
    kind="distill",
    label="Distillation (KD)",
    amount=lambda p: f"T={p['temperature']:g}",
    example={"temperature": 2.0, "epochs": 1},
)
def distill_kd(model: nn.Module, cfg: KDConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "distill.kd")
    loss = ctx.teacher_loss(load_teacher(cfg, ctx), cfg.temperature, cfg.alpha, chosen=cfg.teacher is not None)
    ctx.tune(model, cfg.epochs, "kd", loss=loss)
    return model
