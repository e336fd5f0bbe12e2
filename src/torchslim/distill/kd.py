"""Hinton's knowledge distillation: soft targets of a teacher at temperature T, plus the labels.

loss = (1 - α) · CE(student, y) + α · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

``distill.kd`` fine-tunes the model a chain hands it (a pruned model, say) against a teacher: the
chain's original trained model by default, or any stored torchslim model file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from torchslim.methods.base import MethodContext, register_method


def kd_loss(teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.9,
            label_smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """A ``fit(loss=...)`` callable; the teacher runs in eval mode under no_grad (its parameters are
    left as they are: a teacher may be a snapshot that is restored and trained again)."""
    teacher.eval()

    def loss(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.softmax(teacher(x) / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        ce = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return (1 - alpha) * ce + alpha * temperature**2 * kl

    return loss


class KDConfig(BaseModel):
    """Hinton KD: fine-tune against a teacher's soft targets (temperature, weight, epochs)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(3, ge=1, description="distillation epochs (fine-tuning settings of the recipe)")
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the soft-target term; 1 - alpha on the labels")
    teacher: Path | None = Field(None, description="a torchslim model file; default: the chain's original model")


def load_teacher(cfg: KDConfig, ctx: MethodContext) -> nn.Module:
    from torchslim.errors import TorchslimError
    from torchslim.models import load_model

    if cfg.teacher is None:
        if ctx.original is None:
            raise TorchslimError("distill.kd: no teacher: give teacher: PATH to a torchslim model file")
        return ctx.original
    teacher, spec = load_model(cfg.teacher)
    if spec.num_classes != ctx.spec.num_classes:
        raise TorchslimError(f"distill.kd: teacher {cfg.teacher} predicts {spec.num_classes} classes, "
                             f"the student {ctx.spec.num_classes}")
    return teacher


@register_method("distill.kd", KDConfig)
def distill_kd(model: nn.Module, cfg: KDConfig, ctx: MethodContext) -> nn.Module:
    from torchslim.prune.targets import require_float

    require_float(model, "distill.kd")
    loss = kd_loss(load_teacher(cfg, ctx), cfg.temperature, cfg.alpha, ctx.finetune.label_smoothing)
    ctx.tune(model, cfg.epochs, "kd", loss=loss)
    return model
