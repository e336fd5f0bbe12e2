"""HAWQ-V3 (Yao et al. 2021, "HAWQ-V3: Dyadic Neural Network Quantization", ICML): Hessian-aware
mixed precision.

1. Sensitivity: each layer's Hessian trace, estimated by Hutchinson's method on training images
   (``quant.hessian``), times the perturbation its weights get at each width: Ω = tr(H)/n · ‖Q(W) − W‖².
2. Bits per layer (4 or 8 by default) from an integer linear program that minimises Σ Ω under a
   budget on the weights' size or on bit operations (``quant.bit_allocation``, SciPy's HiGHS).
3. Quantization-aware training with those bits.

With every layer at 8 bits (a budget that allows it) this is seed 004's "HAWQ-V3 (8-bit)" row, and it
deploys as INT8 through ONNX Runtime by ``quant.qat``'s path. A mixed map trains with Brevitas
(per-layer weight widths, 8-bit activations) and ships as a QCDQ ONNX file; CPU runtimes have no
4-bit convolution kernels, so its gain is the packed size (``packed_weight_bytes``), which the
file itself, holding each weight in an 8-bit container, does not show.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from torchslim.backends.brevitas import calibrate_activations, check_bits, require_float, to_lowbit
from torchslim.backends.torch_pruning import output_channels_first
from torchslim.data.sampling import calibration_images, labelled_calibration
from torchslim.errors import ConfigError
from torchslim.export.onnx import export_onnx
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.quant.bit_allocation import LayerChoice, allocate_bits
from torchslim.quant.hessian import hessian_traces, quantization_error
from torchslim.quant.qat import QATConfig, quant_qat
from torchslim.runtimes.deployed import OnnxModel


class HAWQConfig(MethodConfig):
    """HAWQ-V3: Hutchinson Hessian traces, an integer program over bit widths per layer, then QAT."""

    version: ClassVar[int] = 1

    bits: list[int] = Field(default_factory=lambda: [4, 8], description="the widths a layer may take")
    size_budget: float | None = Field(
        None,
        gt=0,
        le=1,
        description="the deployed model's packed size (weights at their widths, 32-bit biases) as a fraction of "
        "the INT8 model's (0.5: half the INT8 size)",
    )
    bops_budget: float | None = Field(
        None, gt=0, le=1, description="bit operations (MACs x weight bits x 8) as a fraction of all at 8 bits"
    )
    layer_bits: dict[str, int] = Field(default_factory=dict, description="widths fixed by hand, by module name")
    hutchinson_samples: int = Field(16, ge=1, description="Rademacher vectors per trace estimate")
    hessian_images: int = Field(256, ge=1, description="training images the Hessian is taken on")
    epochs: int = Field(3, ge=0, description="quantization-aware training epochs with the chosen bits")
    lr_scale: float = Field(0.1, gt=0, le=1, description="QAT lr = finetune lr x this")

    @field_validator("bits")
    @classmethod
    def _widths(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("bits needs at least one width, e.g. [4, 8]")
        return sorted({check_bits(b, "bits") for b in value})

    @model_validator(mode="after")
    def _one_budget(self) -> "HAWQConfig":
        if self.size_budget is not None and self.bops_budget is not None:
            raise ValueError("give one of size_budget or bops_budget, not both")
        bad = {k: v for k, v in self.layer_bits.items() if v not in self.bits}
        if bad:
            raise ValueError(f"layer_bits {bad}: each width must be one of bits {self.bits}")
        return self


QUANTIZED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def quantized_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The conv, transposed-conv and linear layers whose weights train (a fixed layer is left float)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QUANTIZED) and m.weight.requires_grad}


def layer_traces(model: nn.Module, layers: dict[str, nn.Module], cfg: HAWQConfig, ctx: MethodContext) -> dict:
    """Hutchinson traces of each layer's weight Hessian block of the training loss, in eval mode: the
    task's own loss where it has one (a generator's distillation from the original), else cross-entropy."""
    batches = labelled_calibration(ctx.data, cfg.hessian_images, ctx.seed, batch_size=cfg.hessian_images)
    images, labels = batches[0]
    model.eval()
    task_loss = ctx.default_loss
    if task_loss is not None:
        loss_fn = lambda: task_loss(model(images), labels, images)  # noqa: E731
    else:
        loss_fn = lambda: nn.functional.cross_entropy(model(images), labels)  # noqa: E731
    return hessian_traces(loss_fn, {n: m.weight for n, m in layers.items()}, cfg.hutchinson_samples, ctx.seed)


def layer_macs(model: nn.Module, layers: dict[str, nn.Module], shape: tuple[int, ...]) -> dict[str, float]:
    """MACs of each layer at batch 1, from its output size (for the bit-operations budget)."""
    macs: dict[str, float] = {}
    hooks = [
        m.register_forward_hook(
            lambda mod, _i, out, name=name: macs.__setitem__(name, out[0].numel() * mod.weight[0].numel())
        )
        for name, m in layers.items()
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *shape))
    finally:
        for h in hooks:
            h.remove()
    return macs


def bit_map(model: nn.Module, cfg: HAWQConfig, ctx: MethodContext) -> dict[str, int]:
    layers = quantized_layers(model)
    if not layers:
        raise ConfigError("quant.hawq: this model has no trainable Conv2d, ConvTranspose2d or Linear layer to quantize")
    unknown = sorted(set(cfg.layer_bits) - set(layers))
    if unknown:
        raise ConfigError(
            f"layer_bits: no quantized layer named {', '.join(unknown[:5])}; layers: {', '.join(list(layers)[:8])} ..."
        )
    top = max(cfg.bits)
    if cfg.size_budget is None and cfg.bops_budget is None:
        return {n: cfg.layer_bits.get(n, top) for n in layers}
    traces = layer_traces(model, layers, cfg, ctx)
    ctx.notes["hessian_traces"] = traces
    floor = 1e-8 * max(abs(t) for t in traces.values()) + 1e-12  # a trace estimated ≤ 0 still prefers more bits
    per = layer_macs(model, layers, ctx.spec.shape) if cfg.bops_budget is not None else {}
    choices = []
    for name, m in layers.items():
        widths = [cfg.layer_bits[name]] if name in cfg.layer_bits else cfg.bits
        omega = {
            b: (max(traces[name], 0.0) + floor) / m.weight.numel() * quantization_error(m.weight, b) for b in widths
        }
        unit = per[name] * 8 if cfg.bops_budget is not None else m.weight.numel()
        choices.append(LayerChoice(name, omega, {b: unit * b for b in widths}))
    if cfg.bops_budget is not None:  # bit operations: MACs x weight bits x 8 (activation) bits
        budget = cfg.bops_budget * sum(per[n] * 8 * 8 for n in layers)
    else:  # the whole deployed model's packed size: the 32-bit biases count, so the weights get the rest
        biases = bias_bits(layers)
        budget = cfg.size_budget * (sum(m.weight.numel() * 8 for m in layers.values()) + biases) - biases
    return allocate_bits(choices, budget)


def bias_bits(layers: dict[str, nn.Module]) -> int:
    """One 32-bit bias per output channel of every quantized layer (batch norm folded into it)."""
    return sum(32 * output_channels_first(m, m.weight).shape[0] for m in layers.values())


def packed_bytes(model: nn.Module, bits: dict[str, int]) -> float:
    """The deployed model's packed size: each quantized layer's weights at its width and a 32-bit bias
    per output channel (batch norm folded in, as on deployment)."""
    layers = quantized_layers(model)
    return (sum(layers[n].weight.numel() * b for n, b in bits.items()) + bias_bits(layers)) / 8


@register_method(
    "quant.hawq",
    HAWQConfig,
    kind="quant",
    produces="onnx",
    label="Quant. (HAWQ-V3)",
    amount=lambda p: (
        f"size ≤ {100 * p['size_budget']:.0f}% of INT8"
        if p.get("size_budget") is not None and p["size_budget"] < 1
        else f"BOPs ≤ {100 * p['bops_budget']:.0f}% of INT8"
        if p.get("bops_budget") is not None and p["bops_budget"] < 1
        else "INT8"
    ),
    example={"size_budget": 0.75, "epochs": 1, "hutchinson_samples": 2, "hessian_images": 32},
)
def quant_hawq(model: nn.Module, cfg: HAWQConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "quant.hawq")
    model.eval()
    bits = bit_map(model, cfg, ctx)
    ctx.notes["bits"] = bits
    ctx.notes["bits_histogram"] = {str(b): sum(v == b for v in bits.values()) for b in sorted(set(bits.values()))}
    ctx.notes["packed_weight_bytes"] = packed_bytes(model, bits)
    ctx.notes["packed_weight_bytes_int8"] = packed_bytes(model, dict.fromkeys(bits, 8))
    if set(bits.values()) == {8}:  # seed 004's "HAWQ-V3 (8-bit)": INT8 QAT, deployed by ONNX Runtime
        ctx.notes["deployed_as"] = "INT8 (ONNX Runtime static QDQ, quant.qat's path)"
        return quant_qat(model, QATConfig(epochs=max(cfg.epochs, 1), lr_scale=cfg.lr_scale), ctx)
    transposed = [n for n, m in quantized_layers(model).items() if isinstance(m, nn.ConvTranspose2d)]
    if transposed:
        raise ConfigError(
            f"quant.hawq: a mixed bit map needs Brevitas layers, which torchslim has for Conv2d and Linear, not for "
            f"ConvTranspose2d ({', '.join(transposed[:3])}); give no budget (every layer at 8 bits: INT8 QAT)"
        )
    model = to_lowbit(model, bits, 8)
    calibrate_activations(model, calibration_images(ctx.data, cfg.hessian_images, ctx.seed))
    ctx.tune(model, cfg.epochs, "hawq", lr_scale=cfg.lr_scale)
    model.eval()
    out = Path(ctx.workdir) / "model.hawq-mixed.qcdq.onnx"
    ctx.notes["exporter"] = export_onnx(model, torch.zeros(1, *ctx.spec.shape), out)
    ctx.notes["deployed_as"] = "QCDQ ONNX (weights in 8-bit containers; packed size in packed_weight_bytes)"
    return OnnxModel(out, model, "hawq-mixed-qcdq")
