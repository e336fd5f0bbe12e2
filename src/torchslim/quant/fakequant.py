"""Fake quantization modules for INT8 QAT that mirror what ONNX Runtime's static INT8 will do.

Weights: per output channel, symmetric INT8 on [-127, 127] with zero point 0 (ORT's QInt8
symmetric per-channel weights). Activations: per tensor, asymmetric UINT8 on [0, 255], ranges
observed as a running min/max until the observers are frozen. Batch norm is folded into the
preceding convolution's weights *before* they are fake-quantized, because that folded weight is
the one that gets quantized on deployment; BN statistics keep updating from a float pass until
they are frozen. Straight-through gradients come from PyTorch's ``fake_quantize_*`` ATen ops.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

QMIN_W, QMAX_W = -127, 127
QMIN_A, QMAX_A = 0, 255


def fake_quant_weight(w: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Per output channel (``axis``: 1 for a transposed convolution's (in, out, k, k) weight, as ORT
    quantizes a ConvTranspose)."""
    scale = w.detach().abs().transpose(0, axis).flatten(1).amax(1).clamp_min(1e-8) / QMAX_W
    zero = torch.zeros(w.shape[axis], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, axis, QMIN_W, QMAX_W)


class ActObserverFQ(nn.Module):
    """Per-tensor UINT8 fake quantization with a running min/max observer (frozen on demand)."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.register_buffer("lo", torch.tensor(float("inf")))
        self.register_buffer("hi", torch.tensor(float("-inf")))
        self.momentum = momentum
        self.observing = True
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # under bf16/fp16 autocast activations arrive in half precision; ranges and the UINT8 grid stay in
        # fp32, as on deployment (the next conv casts back under autocast)
        x = x.float()
        if self.observing and self.training:
            lo, hi = x.detach().min(), x.detach().max()
            if torch.isinf(self.lo):
                self.lo.copy_(lo)
                self.hi.copy_(hi)
            else:
                self.lo.lerp_(lo, self.momentum)
                self.hi.lerp_(hi, self.momentum)
        if not self.enabled or torch.isinf(self.lo):
            return x
        lo, hi = torch.clamp(self.lo, max=0.0), torch.clamp(self.hi, min=0.0)  # zero must be representable
        scale = ((hi - lo) / (QMAX_A - QMIN_A)).clamp_min(1e-8).reshape(1)
        zero = torch.clamp(torch.round(QMIN_A - lo / scale), QMIN_A, QMAX_A).to(torch.int32).reshape(1)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, QMIN_A, QMAX_A)


class QATConv(nn.Module):
    """Conv2d or ConvTranspose2d (optionally with its following BatchNorm2d folded in) with fake-quantized
    input and weight."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d | None):
        super().__init__()
        self.conv, self.bn = conv, bn
        self.transposed = isinstance(conv, nn.ConvTranspose2d)  # weight (in, out, k, k): output axis 1
        self.act = ActObserverFQ()
        self.bn_frozen = False
        self.enabled = True

    def folded(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        w, b = self.conv.weight, self.conv.bias
        if self.bn is None:
            return w, b
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bias = bn.bias - bn.running_mean * scale
        if b is not None:
            bias = bias + b * scale
        shape = (1, -1, 1, 1) if self.transposed else (-1, 1, 1, 1)
        return w * scale.view(shape), bias

    def _update_bn(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            self.bn.train()
            self.bn(self.conv(x))  # updates running statistics only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None and self.training and not self.bn_frozen:
            self._update_bn(x)
        x = self.act(x)
        w, b = self.folded()
        if self.enabled:
            w = fake_quant_weight(w, axis=1 if self.transposed else 0)
        c = self.conv
        if self.transposed:
            return F.conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding, c.groups, c.dilation)
        return F.conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups)

    def to_float(self) -> nn.Conv2d | nn.ConvTranspose2d:
        w, b = self.folded()
        c = self.conv
        if self.transposed:
            out = nn.ConvTranspose2d(
                c.in_channels,
                c.out_channels,
                c.kernel_size,
                c.stride,
                c.padding,
                c.output_padding,
                c.groups,
                bias=True,
                dilation=c.dilation,
            )
        else:
            out = nn.Conv2d(
                c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups, bias=True
            )
        with torch.no_grad():
            out.weight.copy_(w)
            out.bias.copy_(b if b is not None else torch.zeros(c.out_channels, device=w.device))
        return out


class QATLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.act = ActObserverFQ()
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        w = fake_quant_weight(self.linear.weight) if self.enabled else self.linear.weight
        return F.linear(x, w, self.linear.bias)

    def to_float(self) -> nn.Linear:
        return self.linear


def prepare_qat(model: nn.Module) -> nn.Module:
    """Swap Conv2d or ConvTranspose2d (+following BatchNorm2d) and Linear for fake-quant versions, in place.
    A grouped transposed convolution is left float (its output channels are not one axis of its weight).

    "Following" means the next sibling in the parent's children, the convention of nearly every
    CNN definition (``conv1, bn1``; ``Sequential(conv, bn, relu)``).
    """
    for parent in list(model.modules()):
        if isinstance(parent, (QATConv, QATLinear)):
            continue
        children = list(parent.named_children())
        for i, (name, child) in enumerate(children):
            if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)):
                if isinstance(child, nn.ConvTranspose2d) and child.groups != 1:
                    continue
                nxt = children[i + 1] if i + 1 < len(children) else None
                bn = (
                    nxt[1]
                    if nxt and isinstance(nxt[1], nn.BatchNorm2d) and nxt[1].num_features == child.out_channels
                    else None
                )
                setattr(parent, name, QATConv(child, bn))
                if bn is not None:
                    setattr(parent, nxt[0], nn.Identity())
            elif isinstance(child, nn.Linear):
                setattr(parent, name, QATLinear(child))
    return model


def set_phase(model: nn.Module, observers: bool, bn_stats: bool) -> None:
    for m in model.modules():
        if isinstance(m, ActObserverFQ):
            m.observing = observers
        if isinstance(m, QATConv):
            m.bn_frozen = not bn_stats


def convert_to_float(model: nn.Module) -> nn.Module:
    """Replace every fake-quant module by its plain float layer (BN folded) for export and ORT INT8."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (QATConv, QATLinear)):
                setattr(parent, name, child.to_float())
    return model
