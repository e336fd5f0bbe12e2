"""CNV, the VGG-like topology of FINN/Brevitas (Umuroglu et al. 2017), in floating point.

Six unpadded 3x3 convolutions (64, 64, 128, 128, 256, 256) with two max-pools, then FC 512, FC 512
and the classifier; batch norm after every layer. It is defined on 32x32 inputs; smaller images
(MNIST's 28x28) are zero-padded to 32x32 first, which changes no learned weight.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec

CNV_SIDE = 32


class CNV(nn.Module):
    def __init__(self, spec: InputSpec, fc_width: int = 512):
        super().__init__()
        if spec.image_size > CNV_SIDE:
            raise ValueError(f"cnv is defined on inputs of at most {CNV_SIDE}x{CNV_SIDE}, got {spec.image_size}")
        extra = CNV_SIDE - spec.image_size
        self.pad = nn.ZeroPad2d((extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
        layers, c = [], spec.in_channels
        for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
            layers += [nn.Conv2d(c, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            c = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256, fc_width, bias=False), nn.BatchNorm1d(fc_width), nn.ReLU(inplace=True),
            nn.Linear(fc_width, fc_width, bias=False), nn.BatchNorm1d(fc_width), nn.ReLU(inplace=True),
            nn.Linear(fc_width, spec.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.pad(x)))


@MODELS.register("cnv", default_dataset="cifar10")
def cnv(spec: InputSpec, **kw) -> nn.Module:
    """CNV from FINN/Brevitas in float: 6 unpadded convs + 3 FC layers, BN everywhere."""
    return CNV(spec, **kw)
