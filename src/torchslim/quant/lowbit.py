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

from pydantic import Field, field_validator
from torch import nn

from torchslim.backends.brevitas import check_bits, to_lowbit
from torchslim.export.onnx import export_onnx
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.runtimes.deployed import OnnxModel


class LowBitConfig(MethodConfig):
    """Low-bit QAT with Brevitas: W{b}A{b} conv/linear/ReLU, fine-tuned, exported to QCDQ ONNX."""

    weight_bits: int = Field(4, description="weight bit width, 2-8")
    act_bits: int = Field(4, description="activation bit width, 2-8")
    epochs: int = Field(3, ge=0, description="QAT fine-tuning epochs")

    @field_validator("weight_bits", "act_bits")
    @classmethod
    def _supported(cls, value: int, info) -> int:
        return check_bits(value, info.field_name)


@register_method(
    "quant.lowbit",
    LowBitConfig,
    kind="quant",
    produces="onnx",
    label="Quant. (low-bit QAT)",
    amount=lambda p: f"W{p['weight_bits']}A{p['act_bits']}",
    example={"weight_bits": 2, "act_bits": 2, "epochs": 1},
)
def quant_lowbit(model: nn.Module, cfg: LowBitConfig, ctx: MethodContext) -> nn.Module:
    import torch

    model = to_lowbit(model.eval(), cfg.weight_bits, cfg.act_bits)
    ctx.tune(model, cfg.epochs, f"lowbit-w{cfg.weight_bits}a{cfg.act_bits}")
    model.eval()
    out = Path(ctx.workdir) / f"model.w{cfg.weight_bits}a{cfg.act_bits}.qcdq.onnx"
    ctx.notes["exporter"] = export_onnx(model, torch.zeros(1, *ctx.spec.shape), out)
    return OnnxModel(out, model, f"w{cfg.weight_bits}a{cfg.act_bits}-qcdq")
