"""INT8 through ONNX Runtime's quantization tools: dynamic, and static PTQ in QDQ format.

Why ONNX Runtime and not ``torch.ao.quantization`` (deprecated) or torchao's PT2E path: INT8
speed on a CPU comes from the runtime's integer kernels (VNNI), and ORT's QDQ graphs are what it
fuses into them; quantizing in the same tool that runs the model means the accuracy measured is the
accuracy shipped. See docs/DESIGN.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from torch import nn

from torchslim.data.sampling import calibration_images
from torchslim.measurement.hardware import int8_saturates
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.quant.ort_tools import export_float, quantize_static_onnx, weighted_nodes
from torchslim.runtimes.deployed import OnnxModel
from torchslim.ui import quiet_stderr


class StaticConfig(MethodConfig):
    """INT8 static PTQ (ONNX Runtime QDQ): per-channel weights, calibrated activations."""

    calibration: Literal["minmax", "percentile", "entropy"] = Field(
        "minmax", description="how activation ranges are chosen"
    )
    calibration_samples: int = Field(512, ge=1, description="training images used to calibrate activations")
    percentile: float = Field(99.999, gt=90, le=100, description="for calibration: percentile")
    per_channel: bool = Field(True, description="one weight scale per output channel")
    activations: Literal["uint8", "int8"] = Field("uint8", description="uint8 suits x86 VNNI kernels (U8S8)")


class DynamicConfig(MethodConfig):
    """INT8 dynamic quantization (ONNX Runtime): weights INT8, activations quantized on the fly."""

    op_types: list[Literal["MatMul", "Gemm", "Attention", "LSTM", "GRU", "Conv"]] = Field(
        default_factory=lambda: ["MatMul", "Gemm", "Attention", "LSTM", "GRU"],
        description="operators to quantize; Conv is off by default (ConvInteger is slower than FP32 on CPU)",
    )
    per_channel: bool = Field(False, description="one weight scale per output channel")


@register_method(
    "quant.static",
    StaticConfig,
    kind="quant",
    produces="onnx",
    label="Quant. (Static)",
    amount=lambda p: "INT8",
    example={"calibration": "entropy"},
)
def quant_static(model: nn.Module, cfg: StaticConfig, ctx: MethodContext) -> nn.Module:
    float_onnx = export_float(model, ctx)
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    out = quantize_static_onnx(
        float_onnx,
        Path(ctx.workdir) / "model.int8.onnx",
        batches,
        cfg.calibration,
        cfg.per_channel,
        cfg.activations,
        cfg.percentile,
    )
    ctx.notes["calibration_images"] = sum(len(b) for b in batches)
    ctx.notes["quantized_ops"] = weighted_nodes(out)
    ctx.notes["weight_bits"] = 7 if int8_saturates() else 8
    return OnnxModel(out, model, "int8-static")


@register_method(
    "quant.dynamic",
    DynamicConfig,
    kind="quant",
    produces="onnx",
    label="Quant. (Dynamic)",
    amount=lambda p: "INT8",
    example={"per_channel": True},
)
def quant_dynamic(model: nn.Module, cfg: DynamicConfig, ctx: MethodContext) -> nn.Module:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_onnx = export_float(model, ctx)
    out = Path(ctx.workdir) / "model.int8-dynamic.onnx"
    with quiet_stderr():
        quantize_dynamic(
            str(float_onnx),
            str(out),
            op_types_to_quantize=cfg.op_types,
            per_channel=cfg.per_channel,
            weight_type=QuantType.QInt8,
        )
    before, after = weighted_nodes(float_onnx), weighted_nodes(out)
    ctx.notes["quantized_ops"] = after
    ctx.notes["touched"] = (
        f"{after['integer']} of {before['float_weighted']} weighted layers run in INT8 "
        f"({', '.join(cfg.op_types)}); the rest stay FP32"
    )
    return OnnxModel(out, model, "int8-dynamic")
