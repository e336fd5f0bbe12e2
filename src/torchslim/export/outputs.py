"""A model's output as a flat list of named tensors, whatever its structure.

Segmentation models return a dict (``{"out": ..., "aux": ...}``), detection heads a tuple or a dict,
multi-task models named tuples or dataclasses. Export, parity, the pruning guard and the runtimes
work on the flat list: ONNX has one tensor per output, in this order, named as listed here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from torchslim.errors import ConfigError


def flatten_output(out: Any, name: str = "") -> list[tuple[str, torch.Tensor]]:
    """``[(name, tensor), ...]`` in a fixed order: a tensor, or a dict, tuple, list, named tuple or
    dataclass of them, nested. Names are the keys and fields joined by dots (``output`` for a bare
    tensor, ``output0``... for the items of a plain tuple)."""
    if torch.is_tensor(out):
        return [(name or "output", out)]
    if isinstance(out, Mapping):
        items = [(str(k), v) for k, v in out.items()]
    elif dataclasses.is_dataclass(out) and not isinstance(out, type):
        items = [(f.name, getattr(out, f.name)) for f in dataclasses.fields(out)]
    elif isinstance(out, tuple) and hasattr(out, "_fields"):  # a named tuple
        items = list(zip(out._fields, out))
    elif isinstance(out, Sequence) and not isinstance(out, (str, bytes)):
        items = [(f"output{i}", v) for i, v in enumerate(out)]
    else:
        raise ConfigError(
            f"the model returns a {type(out).__name__}; torchslim takes a tensor, or a dict, tuple, list, named "
            "tuple or dataclass of tensors"
        )
    flat = []
    for key, value in items:
        if value is None:
            continue
        flat += flatten_output(value, f"{name}.{key}" if name else key)
    if not flat:
        raise ConfigError(f"the model returns a {type(out).__name__} that holds no tensor")
    return flat


def output_signature(out: Any) -> tuple[tuple[int, ...], ...]:
    """The shapes of the flat outputs: what a pruned model must still return."""
    return tuple(tuple(t.shape) for _, t in flatten_output(out))


def is_single_tensor(out: Any) -> bool:
    return torch.is_tensor(out)


class FlatOutputs(nn.Module):
    """``model`` returning its flat outputs as a tuple (for ONNX export and graph tracing)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t for _, t in flatten_output(self.model(x)))
