"""INT8 quantization-aware training, deployed through ONNX Runtime static INT8 (QDQ).

Starts from the trained float model: BN is folded into the convolutions, weights and activations
are fake-quantized exactly as ORT's static INT8 will quantize them, and the model is fine-tuned
with a freeze schedule (observers first, then BN statistics). The trained model is then converted
back to plain float layers with BN folded, and ORT quantizes it with activation ranges calibrated
on training images, so the file that ships is the same kind as static PTQ's, with weights that have
learnt to live on the INT8 grid. Accuracy is measured on that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from torchslim.methods.base import MethodContext, register_method
from torchslim.quant.calibration import calibration_images
from torchslim.quant.deployed import OnnxModel
from torchslim.quant.fakequant import convert_to_float, prepare_qat, set_phase
from torchslim.quant.ort_int8 import StaticConfig, export_float, quantize_static_onnx, weighted_nodes


class QATConfig(BaseModel):
    """INT8 QAT: BN folded, fake-quant weights/activations, freeze schedule, then ORT static INT8."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(3, ge=1, description="QAT fine-tuning epochs")
    lr_scale: float = Field(0.1, gt=0, le=1, description="QAT lr = finetune lr x this (small steps on the grid)")
    freeze_observers_after: int = Field(1, ge=0, description="epochs before activation ranges stop updating")
    freeze_bn_after: int = Field(2, ge=0, description="epochs before BN running statistics stop updating")
    calibration: Literal["minmax", "percentile", "entropy"] = "minmax"
    calibration_samples: int = Field(512, ge=1)

    @model_validator(mode="after")
    def _schedule(self) -> "QATConfig":
        if self.freeze_bn_after < self.freeze_observers_after:
            raise ValueError("freeze_bn_after must be >= freeze_observers_after (observers freeze first)")
        return self


@register_method("quant.qat", QATConfig)
def quant_qat(model: nn.Module, cfg: QATConfig, ctx: MethodContext) -> nn.Module:
    from torchslim.train import fit

    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)  # fails fast on bad settings
    model = prepare_qat(model.eval())

    def schedule(epoch: int) -> None:
        set_phase(model, observers=epoch < cfg.freeze_observers_after, bn_stats=epoch < cfg.freeze_bn_after)

    train_cfg = ctx.finetune.model_copy(update={"epochs": cfg.epochs, "lr": ctx.finetune.lr * cfg.lr_scale})
    result = fit(model, ctx.data, train_cfg, ctx.seed, checkpoint=Path(ctx.workdir) / "qat.pt", epoch_hook=schedule)
    (Path(ctx.workdir) / "qat.pt").unlink(missing_ok=True)
    ctx.notes["qat_fake_quant_top1"] = result.accuracy.top1
    model = convert_to_float(model).eval()
    float_onnx = export_float(model, ctx, "qat-float.onnx")
    static = StaticConfig(calibration=cfg.calibration, calibration_samples=cfg.calibration_samples)
    out = quantize_static_onnx(float_onnx, Path(ctx.workdir) / "model.int8-qat.onnx", static, batches)
    ctx.notes["quantized_ops"] = weighted_nodes(out)
    return OnnxModel(out, model, "int8-qat")
