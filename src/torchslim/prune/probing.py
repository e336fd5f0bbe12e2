"""One forward pass with hooks: which layers run, and what input each module receives."""

from __future__ import annotations

import torch
from torch import nn

#: the layers whose output channels a structured cut counts (a generator's transposed convolutions too)
CHANNEL_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def forward_hooked(model: nn.Module, example: torch.Tensor, hooks: list) -> None:
    """Run ``example`` through ``model`` without gradients, then remove ``hooks`` whatever happened."""
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()


def captured_inputs(model: nn.Module, example: torch.Tensor) -> dict[int, object]:
    """The first positional input each module receives in one forward pass of the full model."""
    seen: dict[int, object] = {}

    def keep_first(mod: nn.Module, args: tuple) -> None:  # returns None: a pre-hook's value would replace the input
        seen.setdefault(id(mod), args[0] if args else None)

    forward_hooked(model, example, [m.register_forward_pre_hook(keep_first) for m in model.modules()])
    return seen


def executed_layers(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Names of the conv and linear layers one forward pass runs (not, e.g., an auxiliary head)."""
    names = {id(m): n for n, m in model.named_modules()}
    seen: set[str] = set()
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o: seen.add(names[id(mod)]))
        for m in model.modules()
        if isinstance(m, CHANNEL_LAYERS)
    ]
    forward_hooked(model, example, hooks)
    return seen


def width_agnostic_units(model: nn.Module, example: torch.Tensor, smallest: int = 8) -> set[nn.Module]:
    """The outermost composite modules that return a map of their input's shape and own no parameter or
    buffer with an axis of their channel width: efficient channel attention (a 1-D convolution *along*
    the channels), CBAM-style spatial attention (a convolution over pooled maps). They work at any
    width, so a channel cut passes through them untouched; traced inside, ECA's reshape of C channels
    into a length-C sequence mapped every channel to all C indices, and NFNet-L0's graph took minutes
    to group and was abandoned (``prune.structured`` names the rule in docs/DESIGN.md)."""
    shapes: dict[int, tuple] = {}

    def record(mod: nn.Module, args: tuple, out) -> None:
        x = args[0] if args else None
        if torch.is_tensor(x) and torch.is_tensor(out) and id(mod) not in shapes:
            shapes[id(mod)] = (tuple(x.shape), tuple(out.shape))

    composites = [m for m in model.modules() if next(m.children(), None) is not None and m is not model]
    forward_hooked(model, example, [m.register_forward_hook(record) for m in composites])
    found: set[nn.Module] = set()
    inner: set[int] = set()
    for m in composites:
        if id(m) in inner or id(m) not in shapes:
            continue
        x, out = shapes[id(m)]
        if x != out or len(x) != 4 or x[1] < smallest:
            continue
        tensors = [*m.parameters(), *m.buffers()]
        if tensors and all(x[1] not in t.shape for t in tensors):
            found.add(m)
            inner |= {id(c) for c in m.modules()}
    return found
