"""Opaque units: a block Torch-Pruning cannot trace is cut where it meets the rest of the model.

When the whole graph does not trace (FocalNet's focal modulation: grouping its split outputs took
Torch-Pruning past its time bound) the model used to be pruned part by part, and every width that
crosses a part's boundary, the residual stream first of all, stayed whole: focalnet_tiny_srf kept
0.68 of its MACs with only its MLPs cut. The rule, with no family named: a block that did not trace
alone, returns a map of its input's shape, and whose input is read only by convolutions or linear
layers of its own (its *readers*) while one of its own layers writes its output (its *writer*), is
traced as one opaque unit. Its input width is cut in the readers' input channels, its output width in
the writer's output channels; its inner widths are left as they are. The widths around it then follow
the layers around it, so the residual stream is cut like any other."""

from __future__ import annotations

import weakref

import torch
from torch import nn

from torchslim.prune.probing import captured_inputs

CUTTABLE = (nn.Conv2d, nn.Linear)
_UNITS: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()  # every module resolved as an opaque unit


def is_opaque(m: nn.Module) -> bool:
    return m in _UNITS


@torch.no_grad()
def unit_ends(unit: nn.Module, x: torch.Tensor) -> tuple[list[str], list[str]] | None:
    """(readers, writers) of ``unit`` on input ``x``, as names inside it, or None when its input is read
    by anything else first (a norm, an elementwise use) or no single layer of its own writes its output."""
    names = {id(m): n for n, m in unit.named_modules()}
    inputs: dict[str, torch.Tensor] = {}
    outputs: list[tuple[str, torch.Tensor]] = []

    def record(mod: nn.Module, args: tuple, out) -> None:
        name = names[id(mod)]
        if args and torch.is_tensor(args[0]) and name not in inputs:
            inputs[name] = args[0]
        if torch.is_tensor(out):
            outputs.append((name, out))

    leaves = [m for m in unit.modules() if next(m.children(), None) is None and m is not unit]
    hooks = [m.register_forward_hook(record) for m in leaves]
    try:
        out = unit(x)
    except Exception:  # noqa: BLE001  (a forward that takes more than one input: CoaT's ConvRelPosEnc(q, v, size))
        return None
    finally:
        for h in hooks:
            h.remove()
    if not torch.is_tensor(out) or out.shape != x.shape:
        return None
    layers = {names[id(m)]: m for m in unit.modules() if isinstance(m, CUTTABLE)}
    first = [n for n, t in inputs.items() if t is x]
    if not first or any(n not in layers for n in first):
        return None
    writer = next((n for n, t in reversed(outputs) if n in layers and t.shape == out.shape), None)
    return (first, [writer]) if writer is not None and writer not in first else None


def opaque_units(model: nn.Module, example: torch.Tensor, failed: list[nn.Module]) -> dict[str, tuple]:
    """name -> (readers, writers) for each of the ``failed`` blocks (those that did not trace alone)
    that can be an opaque unit; the innermost such block where several nest."""
    seen = captured_inputs(model, example)
    names = {id(m): n for n, m in model.named_modules()}
    found: dict[str, tuple] = {}
    for m in failed:
        x = seen.get(id(m))
        if not torch.is_tensor(x) or id(m) not in names or m is model:
            continue
        ends = unit_ends(m, x[:1])
        if ends is not None:
            found[names[id(m)]] = ends
    return {n: e for n, e in found.items() if not any(o != n and o.startswith(n + ".") for o in found)}


def resolve(model: nn.Module, units: dict[str, tuple]) -> dict[nn.Module, tuple[list, list, list]]:
    """The units of ``model`` (a copy of the one they were found in) as own-width units:
    {unit: (reader layers, writer layers, [])}, for ``backends.torch_pruning.own_width_pruners``."""
    modules = dict(model.named_modules())
    out = {}
    for name, (readers, writers) in units.items():
        unit = modules.get(name)
        if unit is not None:
            inner = dict(unit.named_modules())
            out[unit] = ([inner[r] for r in readers], [inner[w] for w in writers], [])
            _UNITS.add(unit)
    return out
