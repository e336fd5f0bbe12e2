"""Hinton's knowledge-distillation loss, a ``fit(loss=...)`` callable shared by every method that distils.

loss = (1 - α) · CE(student, y) + α · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

It lives with the trainer, not with ``distill.kd``: IDAP++ and INT8 QAT distil too, and methods
never import one another.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def kd_loss(
    teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.9, label_smoothing: float = 0.0
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
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
