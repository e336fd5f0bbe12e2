"""Low-bit quantization-aware training with Brevitas: W{b}A{b} for any model's conv/linear layers.

Brevitas quantizers are trained with the weights (learned per-tensor scales, straight-through
rounding). ``to_lowbit`` swaps ``Conv2d``/``Linear``/``ReLU`` for their Brevitas counterparts,
copying the float weights, and puts an 8-bit quantizer on the input; ``quant.lowbit`` then
fine-tunes and exports QCDQ ONNX (QuantizeLinear/Clip/DequantizeLinear), which ONNX Runtime runs,
and evaluates that exported file. Sub-8-bit integers have no fast CPU kernels in ONNX Runtime:
the gain of W2/W4 is model size on an accelerator (FINN), not CPU latency, and the report says so.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from torchslim.methods.base import MethodContext, register_method
from torchslim.quant.deployed import OnnxModel

BIT_WIDTHS = (2, 3, 4, 5, 6, 7, 8)


def brevitas_nn():
    """``brevitas.nn``, imported without its start-up chatter (CUDA probing, optional kernels)."""
    import warnings

    from torchslim.export.onnx import quiet_stderr

    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore")
        import brevitas.nn as qnn
    return qnn


def check_bits(value: int, what: str) -> int:
    if value not in BIT_WIDTHS:
        raise ValueError(f"{what} must be one of {', '.join(map(str, BIT_WIDTHS))} (got {value})")
    return value


class LowBitConfig(BaseModel):
    """Low-bit QAT with Brevitas: W{b}A{b} conv/linear/ReLU, fine-tuned, exported to QCDQ ONNX."""

    model_config = ConfigDict(extra="forbid")

    weight_bits: int = 4
    act_bits: int = 4
    epochs: int = Field(3, ge=0, description="QAT fine-tuning epochs")

    @field_validator("weight_bits", "act_bits")
    @classmethod
    def _supported(cls, value: int, info) -> int:
        return check_bits(value, info.field_name)


def _quant_conv(conv: nn.Conv2d, bits: int) -> nn.Module:
    qnn = brevitas_nn()

    q = qnn.QuantConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                        conv.dilation, conv.groups, bias=conv.bias is not None, weight_bit_width=bits)
    q.load_state_dict(conv.state_dict(), strict=False)
    return q


def _quant_linear(linear: nn.Linear, bits: int) -> nn.Module:
    qnn = brevitas_nn()

    q = qnn.QuantLinear(linear.in_features, linear.out_features, bias=linear.bias is not None,
                        weight_bit_width=bits)
    q.load_state_dict(linear.state_dict(), strict=False)
    return q


class InputQuant(nn.Module):
    """8-bit quantization of the network input in front of the wrapped model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        qnn = brevitas_nn()

        self.quant_input = qnn.QuantIdentity(bit_width=8)
        self.model = model

    def forward(self, x):
        return self.model(self.quant_input(x))


def to_lowbit(model: nn.Module, weight_bits: int, act_bits: int) -> nn.Module:
    """Brevitas W{weight_bits}A{act_bits} copy of ``model``'s conv, linear and ReLU layers, in place."""
    qnn = brevitas_nn()

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and not isinstance(child, qnn.QuantConv2d):
                setattr(parent, name, _quant_conv(child, weight_bits))
            elif isinstance(child, nn.Linear) and not isinstance(child, qnn.QuantLinear):
                setattr(parent, name, _quant_linear(child, weight_bits))
            elif isinstance(child, nn.ReLU):
                setattr(parent, name, qnn.QuantReLU(bit_width=act_bits))
    return InputQuant(model)


def is_brevitas(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("brevitas.") for m in model.modules())


@register_method("quant.lowbit", LowBitConfig)
def quant_lowbit(model: nn.Module, cfg: LowBitConfig, ctx: MethodContext) -> nn.Module:
    import torch

    from torchslim.export.onnx import export_onnx

    model = to_lowbit(model.eval(), cfg.weight_bits, cfg.act_bits)
    ctx.tune(model, cfg.epochs, f"lowbit-w{cfg.weight_bits}a{cfg.act_bits}")
    model.eval()
    out = Path(ctx.workdir) / f"model.w{cfg.weight_bits}a{cfg.act_bits}.qcdq.onnx"
    ctx.notes["exporter"] = export_onnx(model, torch.zeros(1, *ctx.spec.shape), out)
    return OnnxModel(out, model, f"w{cfg.weight_bits}a{cfg.act_bits}-qcdq")
