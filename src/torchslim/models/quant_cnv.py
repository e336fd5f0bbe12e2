"""QuantCNV: the CNV topology of FINN/Brevitas with Brevitas low-bit layers (W{b}A{b}).

Same layers as ``cnv`` (six unpadded 3x3 convolutions, two max-pools, FC 512, FC 512, classifier,
batch norm after each hidden layer), with weights at ``weight_bits`` and activations (QuantReLU) at
``act_bits``; the input is quantized to 8 bits, as in Brevitas' CNV example. Trained from scratch
with quantization in the loop (QAT), as in seed 002's "Quantized Models" table.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec
from torchslim.models.cnv import CNV_SIDE
from torchslim.quant.lowbit import brevitas_nn, check_bits


class QuantCNV(nn.Module):
    def __init__(self, spec: InputSpec, weight_bits: int = 4, act_bits: int = 4, fc_width: int = 512):
        super().__init__()
        qnn = brevitas_nn()

        check_bits(weight_bits, "weight_bits")
        check_bits(act_bits, "act_bits")
        if spec.image_size > CNV_SIDE:
            raise ValueError(f"quant_cnv is defined on inputs of at most {CNV_SIDE}x{CNV_SIDE}, got {spec.image_size}")
        extra = CNV_SIDE - spec.image_size
        self.pad = nn.ZeroPad2d((extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
        self.quant_input = qnn.QuantIdentity(bit_width=8)
        layers, c = [], spec.in_channels
        for i, cout in enumerate((64, 64, 128, 128, 256, 256)):
            layers += [qnn.QuantConv2d(c, cout, 3, bias=False, weight_bit_width=weight_bits), nn.BatchNorm2d(cout),
                       qnn.QuantReLU(bit_width=act_bits)]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            c = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            qnn.QuantLinear(256, fc_width, bias=False, weight_bit_width=weight_bits), nn.BatchNorm1d(fc_width),
            qnn.QuantReLU(bit_width=act_bits),
            qnn.QuantLinear(fc_width, fc_width, bias=False, weight_bit_width=weight_bits), nn.BatchNorm1d(fc_width),
            qnn.QuantReLU(bit_width=act_bits),
            qnn.QuantLinear(fc_width, spec.num_classes, bias=True, weight_bit_width=weight_bits),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.quant_input(self.pad(x))))


@MODELS.register("quant_cnv", default_dataset="cifar10", quantized=True)
def quant_cnv(spec: InputSpec, weight_bits: int = 4, act_bits: int = 4, **kw) -> nn.Module:
    """CNV with Brevitas W{b}A{b} layers (kwargs weight_bits, act_bits: 2-8), trained with QAT."""
    return QuantCNV(spec, weight_bits, act_bits, **kw)
