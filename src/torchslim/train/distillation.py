"""Hinton's knowledge-distillation loss, a ``fit(loss=...)`` callable shared by every method that distils.

loss = (1 - α) · CE(student, y) + α · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

It lives with the trainer, not with ``distill.kd``: IDAP++ and INT8 QAT distil too, and methods
never import one another.
"""

from __future__ import annotations

import copy
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
    on_device: dict[torch.device, nn.Module] = {}

    def run_teacher(x: torch.Tensor) -> torch.Tensor:
        """The teacher on the images' device (a copy there when training runs on a GPU; the CPU one stays)."""
        home = next(teacher.parameters(), torch.empty(0)).device
        if x.device == home:
            return teacher(x)
        if x.device not in on_device:
            on_device[x.device] = copy.deepcopy(teacher).to(x.device).eval()
        return on_device[x.device](x)

    def loss(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.softmax(run_teacher(x).float() / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits.float() / temperature, dim=1), soft, reduction="batchmean")
        ce = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return (1 - alpha) * ce + alpha * temperature**2 * kl

    return loss
