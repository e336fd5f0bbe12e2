"""INT8 quantization-aware training, deployed through ONNX Runtime static INT8 (QDQ).

Starts from the trained float model: BN is folded into the convolutions, weights and activations
are fake-quantized exactly as ORT's static INT8 will quantize them, and the model is fine-tuned
with a freeze schedule (observers first, then BN statistics). The trained model is then converted
back to plain float layers with BN folded, and ORT quantizes it with the activation ranges QAT
trained with (``transfer_ranges``; calibrated ranges where the layers do not map one to one), so
the file that ships is the same kind as static PTQ's, with weights that have learnt to live on that
very INT8 grid. Accuracy is measured on that file.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from torchslim.data.sampling import calibration_images
from torchslim.measurement.hardware import int8_saturates
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.quant.fakequant import QATConv, QATLinear, convert_to_float, prepare_qat, set_phase
from torchslim.quant.ort_tools import export_float, quantize_static_onnx, weighted_inputs, weighted_nodes
from torchslim.runtimes.deployed import OnnxModel
from torchslim.train import TrainingHooks


class QATConfig(MethodConfig):
    """INT8 QAT: BN folded, fake-quant weights/activations, freeze schedule, then ORT static INT8."""

    epochs: int = Field(3, ge=1, description="QAT fine-tuning epochs")
    lr_scale: float = Field(0.1, gt=0, le=1, description="QAT lr = finetune lr x this (small steps on the grid)")
    freeze_observers_after: int = Field(1, ge=0, description="epochs before activation ranges stop updating")
    freeze_bn_after: int = Field(2, ge=0, description="epochs before BN running statistics stop updating")
    calibration: Literal["minmax", "percentile", "entropy"] = Field(
        "minmax", description="ranges of activations QAT does not map one to one"
    )
    calibration_samples: int = Field(512, ge=1, description="training images for calibration")
    kd_alpha: float = Field(
        0.5, ge=0, le=1, description="weight of distillation from the float model it started from (0 = labels only)"
    )
    kd_temperature: float = Field(4.0, gt=0, description="distillation temperature")
    transfer_ranges: bool = Field(
        True,
        description="deploy with the activation ranges QAT trained with, not "
        "freshly calibrated ones (when layers map one to one)",
    )

    @model_validator(mode="after")
    def _schedule(self) -> "QATConfig":
        if self.freeze_bn_after < self.freeze_observers_after:
            raise ValueError("freeze_bn_after must be >= freeze_observers_after (observers freeze first)")
        return self


@torch.no_grad()
def observer_ranges(model: nn.Module, example: torch.Tensor) -> list[tuple[float, float] | None]:
    """The (min, max) each fake-quant layer's input was trained with, in execution order."""
    order: list[nn.Module] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, _inp: order.append(mod))
        for m in model.modules()
        if isinstance(m, (QATConv, QATLinear))
    ]
    try:
        model.eval()
        model(example)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for m in order:
        lo, hi = float(m.act.lo), float(m.act.hi)
        out.append(None if math.isinf(lo) or math.isinf(hi) else (min(lo, 0.0), max(hi, 0.0)))
    return out


def match_ranges(inputs: list[str], ranges: list[tuple[float, float] | None]) -> dict[str, tuple[float, float]]:
    """Tensor name -> range, when the ONNX graph's weighted nodes and the QAT layers correspond one to one."""
    if not ranges or len(inputs) != len(ranges) or any(r is None for r in ranges):
        return {}
    out: dict[str, tuple[float, float]] = {}
    for name, (lo, hi) in zip(inputs, ranges):
        old = out.get(name, (lo, hi))
        out[name] = (min(lo, old[0]), max(hi, old[1]))  # a tensor feeding two layers gets both ranges
    return out


@register_method(
    "quant.qat",
    QATConfig,
    kind="quant",
    produces="onnx",
    label="Quant. (QAT)",
    amount=lambda p: "INT8",
    example={"epochs": 1},
)
def quant_qat(model: nn.Module, cfg: QATConfig, ctx: MethodContext) -> nn.Module:
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)  # fails fast on bad settings
    teacher = copy.deepcopy(model).eval() if cfg.kd_alpha > 0 else None
    model = prepare_qat(model.eval())

    def schedule(epoch: int) -> None:
        set_phase(model, observers=epoch < cfg.freeze_observers_after, bn_stats=epoch < cfg.freeze_bn_after)

    if teacher is not None and ctx.finetune_fn is not None:  # the caller's loop takes no loss: it trains on labels
        teacher = None
        ctx.notes["qat_distillation"] = "off: the caller's finetune trains QAT on its own loss"
    if teacher is not None and ctx.default_loss is not None:  # the task's own loss (a generator's distillation)
        teacher = ctx.original if ctx.original is not None else teacher
        ctx.notes["qat_distillation"] = "the task's own fine-tuning loss (softened logits are a classifier's)"
    loss = None if teacher is None else ctx.teacher_loss(teacher, cfg.kd_temperature, cfg.kd_alpha)
    ctx.tune(model, cfg.epochs, "qat", loss=loss, hooks=TrainingHooks(before_epoch=schedule), lr_scale=cfg.lr_scale)
    ctx.notes["qat_fake_quant_top1"] = ctx.notes["finetune"][-1].get("top1")
    trained_ranges = observer_ranges(model, ctx.example_input()) if cfg.transfer_ranges else []
    model = convert_to_float(model).eval()
    float_onnx = export_float(model, ctx, "qat-float.onnx")
    ranges = match_ranges(weighted_inputs(float_onnx), trained_ranges)
    ctx.notes["qat_ranges"] = (
        f"{len(ranges)} activation ranges from QAT"
        if ranges
        else "recalibrated (QAT layers did not map one to one onto the ONNX graph)"
        if cfg.transfer_ranges
        else "recalibrated"
    )
    out = quantize_static_onnx(
        float_onnx, Path(ctx.workdir) / "model.int8-qat.onnx", batches, cfg.calibration, ranges=ranges
    )
    ctx.notes["quantized_ops"] = weighted_nodes(out)
    ctx.notes["weight_bits"] = 7 if int8_saturates() else 8
    return OnnxModel(out, model, "int8-qat")
