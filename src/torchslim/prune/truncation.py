"""Layer truncation: replace a whole block by the identity, when its input and output shapes match.

A residual block y = relu(x + f(x)) whose input is already non-negative becomes y = x, which is
what zeroing its branch would give. A removed block is a :class:`RemovedBlock`; its marker
attribute travels with the saved architecture, so the truncated model reloads without pickled code.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.errors import TorchslimError
from torchslim.export.architecture import RemovedBlock

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@torch.no_grad()
def block_shapes(model: nn.Module, example: torch.Tensor) -> dict[str, tuple[tuple, tuple]]:
    """(input shape, output shape) of every named submodule called with one tensor in and out."""
    shapes: dict[str, tuple[tuple, tuple]] = {}

    def hook(name: str):
        def record(_mod, inp, out) -> None:  # returns None: a forward hook's return value replaces the output
            first = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None
            shapes.setdefault(
                name,
                (
                    tuple(first.shape) if first is not None else None,
                    tuple(out.shape) if isinstance(out, torch.Tensor) else None,
                ),
            )

        return record

    hooks = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if name]
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return shapes


def removable_blocks(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Blocks that may become the identity: an element of a sequence of blocks (a child of a
    Sequential or ModuleList, like a residual block, a ViT block or a conv-bn-act unit) that holds a
    conv or linear layer and whose output has its input's shape. Single layers are not blocks."""
    shapes = block_shapes(model, example)
    modules = dict(model.named_modules())
    out = []
    for name, m in modules.items():
        parent = modules.get(name.rpartition(".")[0]) if name else None
        if parent is None or not isinstance(parent, CONTAINERS) or isinstance(m, RemovedBlock):
            continue
        if not list(m.children()) or not any(isinstance(c, (nn.Conv2d, nn.Linear)) for c in m.modules()):
            continue
        io = shapes.get(name)
        if io and io[0] is not None and io[0] == io[1]:
            out.append(name)
    return out


def truncate(model: nn.Module, name: str, example: torch.Tensor) -> nn.Module:
    """Replace block ``name`` by the identity in place; refuse, with the shapes, if that would break them."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        raise TorchslimError(
            f"cannot truncate '{name}': no such block; removable: "
            f"{', '.join(removable_blocks(model, example)) or 'none'}"
        )
    io = block_shapes(model, example).get(name)
    if io is None or io[0] is None or io[0] != io[1]:
        got = (
            "never called with a single tensor"
            if io is None or io[0] is None
            else f"input {'x'.join(map(str, io[0][1:]))}, output {'x'.join(map(str, io[1][1:]))}"
        )
        raise TorchslimError(
            f"cannot replace block '{name}' with the identity: its shapes differ ({got}); "
            f"removable: {', '.join(removable_blocks(model, example)) or 'none'}"
        )
    parent_name, _, child = name.rpartition(".")
    parent = modules[parent_name] if parent_name else model
    setattr(parent, child, RemovedBlock())
    return model
