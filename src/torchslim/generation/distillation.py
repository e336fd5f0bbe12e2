"""Fine-tuning a compressed generator by distilling from the original on the same latents.

As GAN-compression work does (Aguinaldo et al. 2019; Li et al. 2020): the student's image should equal
the teacher's (an L1 pixel loss), and look alike to the trained discriminator (an MSE between its
features of both images: every layer before its final logit). No adversarial term is needed for the
student to stay close to a generator that is already good.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def discriminator_features(discriminator: nn.Module) -> nn.Module:
    """The discriminator without its final logit layer: a feature map per image."""
    layers = list(discriminator.net.children())
    last_conv = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
    return nn.Sequential(*layers[:last_conv]).eval().requires_grad_(False)


def distillation_loss(
    teacher: nn.Module, features: nn.Module | None, pixel_weight: float, feature_weight: float
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(student_images, _labels, latents)`` for torchslim's trainer."""
    teacher = teacher.eval().requires_grad_(False)

    def loss(student: torch.Tensor, _y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = teacher(z)
        out = pixel_weight * nn.functional.l1_loss(student, target)
        if features is not None and feature_weight > 0:
            with torch.no_grad():
                want = features(target)
            out = out + feature_weight * nn.functional.mse_loss(features(student), want)
        return out

    return loss
