"""Per-layer Hessian traces by Hutchinson's method, and the sensitivity HAWQ builds on them.

Hutchinson: for Rademacher vectors v (entries ±1), E[vᵀ H v] = tr(H); H v comes from a second
backward pass through the gradient (a Hessian-vector product), so the Hessian is never formed. One
v per layer block gives every layer's trace from the same two passes.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def hessian_traces(
    loss_fn: Callable[[], torch.Tensor], params: dict[str, nn.Parameter], samples: int, seed: int = 0
) -> dict[str, float]:
    """The trace of the loss's Hessian block of each parameter (by name), averaged over ``samples``
    Rademacher vectors; ``loss_fn()`` recomputes the loss (a new batch each call, if it likes)."""
    names, tensors = list(params), list(params.values())
    g = torch.Generator().manual_seed(seed)
    sums = dict.fromkeys(names, 0.0)
    for _ in range(samples):
        grads = torch.autograd.grad(loss_fn(), tensors, create_graph=True)
        vs = [(torch.randint(0, 2, t.shape, generator=g, dtype=torch.float32) * 2 - 1).to(t) for t in tensors]
        hvs = torch.autograd.grad(grads, tensors, grad_outputs=vs)
        for name, v, hv in zip(names, vs, hvs):
            sums[name] += float((v * hv).sum())
    return {name: total / samples for name, total in sums.items()}


def quantization_error(weight: torch.Tensor, bits: int) -> float:
    """‖Q(W) − W‖² for symmetric per-output-channel quantization to ``bits`` (what the layer will get)."""
    w = weight.detach().float()
    qmax = 2 ** (bits - 1) - 1
    scale = w.flatten(1).abs().amax(1).clamp_min(1e-12) / qmax
    shape = (-1,) + (1,) * (w.dim() - 1)
    q = torch.clamp(torch.round(w / scale.view(shape)), -qmax, qmax) * scale.view(shape)
    return float((q - w).pow(2).sum())


def sensitivity(trace: float, weight: torch.Tensor, bits: int) -> float:
    """HAWQ-V2/V3's Ω = (tr(H) / n) · ‖Q(W) − W‖²: the average curvature times the perturbation."""
    return trace / weight.numel() * quantization_error(weight, bits)
