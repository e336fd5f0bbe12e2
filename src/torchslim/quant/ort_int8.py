"""INT8 through ONNX Runtime's quantization tools: dynamic, and static PTQ in QDQ format.

Why ONNX Runtime and not ``torch.ao.quantization`` (deprecated) or torchao's PT2E path: INT8
speed on a CPU comes from the runtime's integer kernels (VNNI), and ORT's QDQ graphs are what it
fuses into them; quantizing in the same tool that runs the model means the accuracy measured is the
accuracy shipped. See docs/DESIGN.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from torchslim.export.onnx import export_onnx, quiet_stderr
from torchslim.methods.base import MethodContext, register_method
from torchslim.quant.calibration import TensorReader, calibration_images
from torchslim.quant.deployed import OnnxModel

CALIBRATIONS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}


class StaticConfig(BaseModel):
    """INT8 static PTQ (ONNX Runtime QDQ): per-channel weights, calibrated activations."""

    model_config = ConfigDict(extra="forbid")

    calibration: Literal["minmax", "percentile", "entropy"] = "minmax"
    calibration_samples: int = Field(512, ge=1, description="training images used to calibrate activations")
    percentile: float = Field(99.999, gt=90, le=100, description="for calibration: percentile")
    per_channel: bool = True
    activations: Literal["uint8", "int8"] = Field("uint8", description="uint8 suits x86 VNNI kernels (U8S8)")


class DynamicConfig(BaseModel):
    """INT8 dynamic quantization (ONNX Runtime): weights INT8, activations quantized on the fly."""

    model_config = ConfigDict(extra="forbid")

    op_types: list[Literal["MatMul", "Gemm", "Attention", "LSTM", "GRU", "Conv"]] = Field(
        default_factory=lambda: ["MatMul", "Gemm", "Attention", "LSTM", "GRU"],
        description="operators to quantize; Conv is off by default (ConvInteger is slower than FP32 on CPU)")
    per_channel: bool = False


def export_float(model: nn.Module, ctx: MethodContext, name: str = "float.onnx") -> Path:
    """Export the float model, then ORT's pre-processing (shape inference, BN folding, fusions)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model.eval()
    raw = Path(ctx.workdir) / name
    export_onnx(model, torch.zeros(1, *ctx.spec.shape), raw)
    prepared = raw.with_name(raw.stem + ".prep.onnx")
    with quiet_stderr():
        quant_pre_process(str(raw), str(prepared), skip_symbolic_shape=True)
    return prepared


def weighted_nodes(path: Path) -> dict[str, int]:
    """Counts of weighted float operators and of integer/QDQ-wrapped ones in an ONNX file."""
    import onnx

    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    return {
        "float_weighted": sum(o in ("Conv", "Gemm", "MatMul") for o in ops),
        "integer": sum(o in ("ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "QLinearConv",
                             "QLinearMatMul", "DynamicQuantizeLSTM") for o in ops),
        "dequantize": sum(o == "DequantizeLinear" for o in ops),
    }


def weighted_inputs(path: Path) -> list[str]:
    """The activation input of every Conv/Gemm/MatMul node, in graph (execution) order."""
    import onnx

    return [n.input[0] for n in onnx.load(str(path)).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]


def quantize_static_onnx(float_onnx: Path, out: Path, cfg: StaticConfig, batches: list[torch.Tensor],
                         ranges: dict[str, tuple[float, float]] | None = None) -> Path:
    """ORT static INT8 (QDQ). ``ranges`` fixes the (min, max) of named activation tensors, e.g. the
    ranges QAT trained with, instead of calibrating them."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    input_name = onnx.load(str(float_onnx)).graph.input[0].name
    extra = {"CalibPercentile": cfg.percentile} if cfg.calibration == "percentile" else {}
    if ranges:
        import numpy as np  # ORT wants numpy scalars here

        extra["TensorQuantOverrides"] = {k: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                                         for k, (lo, hi) in ranges.items()}
    with quiet_stderr():
        quantize_static(
            str(float_onnx), str(out), TensorReader(input_name, batches), quant_format=QuantFormat.QDQ,
            per_channel=cfg.per_channel, reduce_range=False,
            activation_type=QuantType.QUInt8 if cfg.activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8, calibrate_method=getattr(CalibrationMethod, CALIBRATIONS[cfg.calibration]),
            extra_options=extra,
        )
    return out


@register_method("quant.static", StaticConfig)
def quant_static(model: nn.Module, cfg: StaticConfig, ctx: MethodContext) -> nn.Module:
    float_onnx = export_float(model, ctx)
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    out = quantize_static_onnx(float_onnx, Path(ctx.workdir) / "model.int8.onnx", cfg, batches)
    ctx.notes["calibration_images"] = sum(len(b) for b in batches)
    ctx.notes["quantized_ops"] = weighted_nodes(out)
    return OnnxModel(out, model, "int8-static")


@register_method("quant.dynamic", DynamicConfig)
def quant_dynamic(model: nn.Module, cfg: DynamicConfig, ctx: MethodContext) -> nn.Module:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_onnx = export_float(model, ctx)
    out = Path(ctx.workdir) / "model.int8-dynamic.onnx"
    with quiet_stderr():
        quantize_dynamic(str(float_onnx), str(out), op_types_to_quantize=cfg.op_types, per_channel=cfg.per_channel,
                         weight_type=QuantType.QInt8)
    before, after = weighted_nodes(float_onnx), weighted_nodes(out)
    ctx.notes["quantized_ops"] = after
    ctx.notes["touched"] = (f"{after['integer']} of {before['float_weighted']} weighted layers run in INT8 "
                            f"({', '.join(cfg.op_types)}); the rest stay FP32")
    return OnnxModel(out, model, "int8-dynamic")
