"""CNV, the VGG-like topology of FINN/Brevitas (Umuroglu et al. 2017), in floating point.

Six unpadded 3x3 convolutions (64, 64, 128, 128, 256, 256) with two max-pools, then FC 512, FC 512
and the classifier; batch norm after every layer. It is defined on 32x32 inputs; smaller images
(MNIST's 28x28) are zero-padded to 32x32 first, which changes no learned weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec

CNV_SIDE = 32


@dataclass(frozen=True)
class CNVLayers:
    """How each kind of CNV layer is made: float here, Brevitas low-bit in ``quant_cnv``."""

    conv: Callable[[int, int], nn.Module] = lambda cin, cout: nn.Conv2d(cin, cout, 3, bias=False)
    linear: Callable[[int, int, bool], nn.Module] = lambda cin, cout, bias: nn.Linear(cin, cout, bias=bias)
    act: Callable[[], nn.Module] = lambda: nn.ReLU(inplace=True)
    input: Callable[[], nn.Module] = nn.Identity


class CNV(nn.Module):
    def __init__(self, spec: InputSpec, fc_width: int = 512, layers: CNVLayers = CNVLayers()):
        super().__init__()
        if spec.image_size > CNV_SIDE:
            raise ValueError(f"cnv is defined on inputs of at most {CNV_SIDE}x{CNV_SIDE}, got {spec.image_size}")
        extra = CNV_SIDE - spec.image_size
        self.pad = nn.ZeroPad2d((extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
        self.quant_input = layers.input()
        convs, c = [], spec.in_channels
        for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
            convs += [layers.conv(c, cout), nn.BatchNorm2d(cout), layers.act()]
            if i in (1, 3):
                convs.append(nn.MaxPool2d(2))
            c = cout
        self.features = nn.Sequential(*convs)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            layers.linear(256, fc_width, False),
            nn.BatchNorm1d(fc_width),
            layers.act(),
            layers.linear(fc_width, fc_width, False),
            nn.BatchNorm1d(fc_width),
            layers.act(),
            layers.linear(fc_width, spec.num_classes, True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.quant_input(self.pad(x))))


@MODELS.register("cnv", default_dataset="cifar10")
def cnv(spec: InputSpec, **kw) -> nn.Module:
    """CNV from FINN/Brevitas in float: 6 unpadded convs + 3 FC layers, BN everywhere."""
    return CNV(spec, **kw)
