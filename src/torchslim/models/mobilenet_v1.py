"""MobileNetV1 (Howard et al. 2017) for small images: the stem has stride 1 instead of 2."""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec
from torchslim.models.small_cnns import conv_bn_relu

# (output channels, stride) of the 13 depthwise-separable blocks
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    def __init__(self, spec: InputSpec, width_mult: float = 1.0):
        super().__init__()
        c = int(32 * width_mult)
        layers = [conv_bn_relu(spec.in_channels, c)]
        for cout, stride in BLOCKS:
            cout = int(cout * width_mult)
            layers += [
                nn.Sequential(
                    nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
                ),
                conv_bn_relu(c, cout, k=1),
            ]
            c = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@MODELS.register("mobilenet_v1", default_dataset="cifar10")
def mobilenet_v1(spec: InputSpec, **kw) -> nn.Module:
    """MobileNetV1, 13 depthwise-separable blocks, stride-1 stem for 32x32 images; width_mult option."""
    return MobileNetV1(spec, **kw)
