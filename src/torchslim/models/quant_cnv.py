"""QuantCNV: the CNV topology of FINN/Brevitas with Brevitas low-bit layers (W{b}A{b}).

Same layers as ``cnv`` (six unpadded 3x3 convolutions, two max-pools, FC 512, FC 512, classifier,
batch norm after each hidden layer), with weights at ``weight_bits`` and activations (QuantReLU) at
``act_bits``; the input is quantized to 8 bits, as in Brevitas' CNV example. Trained from scratch
with quantization in the loop (QAT), as in seed 002's "Quantized Models" table.
"""

from __future__ import annotations

from torch import nn

from torchslim.backends.brevitas import brevitas_nn, check_bits
from torchslim.models.base import MODELS, InputSpec
from torchslim.models.cnv import CNV, CNVLayers


def brevitas_layers(weight_bits: int, act_bits: int) -> CNVLayers:
    qnn = brevitas_nn()
    check_bits(weight_bits, "weight_bits")
    check_bits(act_bits, "act_bits")
    # Below 4 bits: activation ranges start at max 2 (post-BN activations are ~N(0, 1), so 3 levels
    # up to 6 would waste most of them), and weights get one learnt scale per output channel.
    act_max = 6.0 if act_bits >= 4 else 2.0
    per_channel = weight_bits < 4
    return CNVLayers(
        conv=lambda cin, cout: qnn.QuantConv2d(
            cin, cout, 3, bias=False, weight_bit_width=weight_bits, weight_scaling_per_output_channel=per_channel
        ),
        linear=lambda cin, cout, bias: qnn.QuantLinear(
            cin, cout, bias=bias, weight_bit_width=weight_bits, weight_scaling_per_output_channel=per_channel
        ),
        act=lambda: qnn.QuantReLU(bit_width=act_bits, max_val=act_max),
        input=lambda: qnn.QuantIdentity(bit_width=8),
    )


@MODELS.register("quant_cnv", default_dataset="cifar10", quantized=True)
def quant_cnv(spec: InputSpec, weight_bits: int = 4, act_bits: int = 4, **kw) -> nn.Module:
    """CNV with Brevitas W{b}A{b} layers (kwargs weight_bits, act_bits: 2-8), trained with QAT."""
    return CNV(spec, layers=brevitas_layers(weight_bits, act_bits), **kw)
