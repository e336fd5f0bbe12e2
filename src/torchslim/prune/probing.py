"""One forward pass with hooks: which layers run, and what input each module receives."""

from __future__ import annotations

import torch
from torch import nn


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
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    forward_hooked(model, example, hooks)
    return seen
