"""Small CNNs from seed 000's MNIST/CIFAR tables (our documented interpretations of the names)."""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    pad = k // 2 if padding is None else padding
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SimpleCNN6x2(nn.Module):
    """Six 3x3 conv layers in three stages of two (32, 64, 128 channels), then two FC layers."""

    def __init__(self, spec: InputSpec, width: int = 32, hidden: int = 256):
        super().__init__()
        c = spec.in_channels
        stages = []
        for mult in (1, 2, 4):
            stages += [conv_bn_relu(c, width * mult), conv_bn_relu(width * mult, width * mult), nn.MaxPool2d(2)]
            c = width * mult
        self.features = nn.Sequential(*stages)
        side = spec.image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.Linear(hidden, spec.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EnhancedLeNet5(nn.Module):
    """LeNet-5 widened (32/64 5x5 filters) with batch norm, max-pooling and dropout: ~1.1 M params on MNIST."""

    def __init__(self, spec: InputSpec, dropout: float = 0.25):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(spec.in_channels, 32, 5, padding=2, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = ((spec.image_size // 2) - 4) // 2
        if side < 1:
            raise ValueError(f"enhanced_lenet5 needs images of at least 12x12, got {spec.image_size}")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, spec.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("simple_cnn_6x2", default_dataset="mnist5k")
def simple_cnn_6x2(spec: InputSpec, **kw) -> nn.Module:
    """6 conv (3 stages x 2) + 2 FC layers, batch norm (seed 000's SimpleCNN_6x2)."""
    return SimpleCNN6x2(spec, **kw)


@MODELS.register("enhanced_lenet5", default_dataset="mnist5k")
def enhanced_lenet5(spec: InputSpec, **kw) -> nn.Module:
    """Widened LeNet-5 with batch norm and dropout (seed 000's EnhancedLeNet5)."""
    return EnhancedLeNet5(spec, **kw)
