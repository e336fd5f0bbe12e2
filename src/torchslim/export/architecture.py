"""A pruned model's architecture as plain data, and how to re-apply it to a freshly built model.

Structured pruning changes layer widths in place. Instead of pickling the module (which would
mean unpickling code on load), torchslim records every module's plain attributes (ints, floats,
bools, strings and tuples or lists of them: ``out_channels``, ``num_heads``, ``splits`` ...) and,
on load, builds the original architecture, re-applies those attributes and resizes parameters and
buffers to the saved tensor shapes before loading the tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PLAIN = (int, float, bool, str)


class RemovedBlock(nn.Identity):
    """A block truncated away by layer truncation (saved as the plain attribute ``removed_block``)."""

    def __init__(self) -> None:
        super().__init__()
        self.removed_block = True


def restore_removed_blocks(model: nn.Module, arch: dict) -> None:
    """On load: blocks saved as removed become :class:`RemovedBlock` again, before tensors are loaded."""
    for name in sorted((n for n, a in arch.items() if a.get("removed_block")), key=len):
        modules = dict(model.named_modules())
        if name not in modules:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, RemovedBlock())


def _plain(value: Any) -> bool:
    """Exact builtin types only: an Enum that subclasses str would pickle as its class."""
    if type(value) in PLAIN or value is None:
        return True
    return type(value) in (tuple, list) and all(type(v) in PLAIN for v in value)  # lists: e.g. MixConv's splits


def architecture(model: nn.Module) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        attrs = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training" and _plain(v)}
        if attrs:
            out[name] = attrs
    return out


def apply_architecture(model: nn.Module, arch: dict[str, dict[str, Any]], state: dict[str, torch.Tensor]) -> nn.Module:
    restore_removed_blocks(model, arch)  # layer truncation replaced these blocks by the identity
    modules = dict(model.named_modules())
    for name, attrs in arch.items():
        if name in modules:
            for k, v in attrs.items():
                if getattr(modules[name], k, object()) != v:
                    setattr(modules[name], k, v)
    for key, tensor in state.items():
        mod_name, _, attr = key.rpartition(".")
        module = modules.get(mod_name)
        if module is None:
            continue
        if attr in module._parameters and module._parameters[attr] is not None:
            if module._parameters[attr].shape != tensor.shape:
                module._parameters[attr] = nn.Parameter(torch.empty_like(tensor), requires_grad=True)
        elif attr in module._buffers and module._buffers[attr] is not None:
            if module._buffers[attr].shape != tensor.shape:
                module._buffers[attr] = torch.empty_like(tensor)
    for key, tensor in getattr(state, "_non_persistent", {}).items():  # not loaded by load_state_dict
        mod_name, _, attr = key.rpartition(".")
        module = modules.get(mod_name)
        if module is not None and attr in module._non_persistent_buffers_set:
            module._buffers[attr] = tensor.clone()
    return model
