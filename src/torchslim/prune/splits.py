"""Modules that split their input by sizes they store: kept in step with the widths a cut leaves.

FasterNet's partial convolution splits its C input channels into ``dim_conv3`` that go through a
3x3 convolution and ``dim_untouched`` that pass on (``torch.split(x, [a, b])``). Torch-Pruning maps a
residual cut through the split correctly, but the two stored sizes kept their old values and the next
forward failed, so the guard kept every residual width whole (fasternet_t2 kept 0.60 of its MACs).

The rule, with no family named: a module whose input width equals the sum of two of its integer
attributes, the first being the input width of one of its own convolutions or linear layers, splits by
them. While a cut runs, a pre-hook sets the first to that layer's width and the second to the rest of
the input it receives; the values a forward leaves are the module's plain attributes, saved and
reloaded with the architecture (``export.architecture``).

Equal splits are the second rule. timm's SelectiveKernel splits its input into ``n`` equal chunks by a stored
width (``torch.split(x, self.in_channels // n)``), one per path, so a residual cut broke it unless each
chunk lost as many channels as the others (skresnet18 kept all its MACs). The rule, again with no family
named: a module with an integer attribute equal to its input width, ``n >= 2`` of whose layers read
``1/n`` of that input straight from it (a view of the same storage), splits equally. The cut takes the
same positions from every chunk (Torch-Pruning's ``in_channel_groups``: ``n`` for each reader), and a
pre-hook sets the attribute to the width the module receives."""

from __future__ import annotations

import functools
import itertools

import torch
from torch import nn

from torchslim.prune.probing import captured_inputs, forward_hooked


def split_modules(model: nn.Module, example: torch.Tensor) -> dict[nn.Module, tuple[str, str, str]]:
    """module -> (first size's name, second size's name, the child layer the first part goes through)."""
    widths: dict[int, int] = {}

    def record(mod: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        if torch.is_tensor(x) and x.dim() >= 2:
            widths.setdefault(id(mod), int(x.shape[1]))

    composites = [m for m in model.modules() if next(m.children(), None) is not None and m is not model]
    forward_hooked(model, example, [m.register_forward_pre_hook(record) for m in composites])
    found: dict[nn.Module, tuple[str, str, str]] = {}
    for m in composites:
        width = widths.get(id(m))
        sizes = {k: v for k, v in vars(m).items() if type(v) is int and not k.startswith("_") and 0 < v < (width or 0)}
        layers = {
            n: c.in_channels if isinstance(c, nn.modules.conv._ConvNd) else c.in_features
            for n, c in m.named_children()
            if isinstance(c, (nn.modules.conv._ConvNd, nn.Linear))
        }
        for (a, va), (b, vb) in itertools.permutations(sizes.items(), 2):
            layer = next((n for n, w in layers.items() if w == va), None)
            if va + vb == width and layer is not None:
                found[m] = (a, b, layer)
                break
    return found


def equal_split_modules(model: nn.Module, example: torch.Tensor) -> dict[nn.Module, tuple[str, list[nn.Module]]]:
    """module -> (the attribute holding its input width, the layers that each read one equal chunk)."""
    inputs = captured_inputs(model, example)  # kept alive: storage addresses stay unique while compared
    found: dict[nn.Module, tuple[str, list[nn.Module]]] = {}
    composites = [m for m in model.modules() if next(m.children(), None) is not None and m is not model]
    for m in reversed(composites):  # innermost first: an outer block reading the same chunks is not a split
        x = inputs.get(id(m))
        if not torch.is_tensor(x) or x.dim() < 2:
            continue
        width, storage = int(x.shape[1]), x.untyped_storage().data_ptr()
        readers = [
            layer
            for layer in m.modules()
            if isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear))
            and torch.is_tensor(inputs.get(id(layer)))
            and inputs[id(layer)].untyped_storage().data_ptr() == storage
            and _in_width(layer) < width
        ]
        n = len(readers)
        names = sorted(
            (k for k, v in vars(m).items() if type(v) is int and not k.startswith("_") and v == width),
            key=lambda k: "in" not in k,  # an input width's usual names (in_channels, dim_in) first
        )
        claimed = any(set(readers) == set(r) for _, r in found.values())
        if names and n >= 2 and all(_in_width(r) * n == width for r in readers) and not claimed:
            found[m] = (names[0], readers)
    return found


def _in_width(layer: nn.Module) -> int:
    return layer.in_channels if isinstance(layer, nn.modules.conv._ConvNd) else layer.in_features


def _rewiden(name: str, module: nn.Module, args: tuple) -> None:
    x = args[0] if args else None
    if torch.is_tensor(x):
        setattr(module, name, int(x.shape[1]))


def _resplit(first: str, second: str, layer: str, module: nn.Module, args: tuple) -> None:
    x = args[0] if args else None
    child = getattr(module, layer)
    width = child.in_channels if isinstance(child, nn.modules.conv._ConvNd) else child.in_features
    if torch.is_tensor(x):
        setattr(module, first, width)
        setattr(module, second, int(x.shape[1]) - width)


def follow_splits(splits: dict[nn.Module, tuple[str, str, str]], equal=None) -> None:
    """Install the pre-hooks (they survive the guard's deep copies: each names what it reads)."""
    for m, names in splits.items():
        m.register_forward_pre_hook(functools.partial(_resplit, *names))
    for m, (name, _) in (equal or {}).items():
        m.register_forward_pre_hook(functools.partial(_rewiden, name))


def stop_following(model: nn.Module) -> None:
    """Remove the pre-hooks from ``model`` (a deep copy's hooks are its own)."""
    for m in model.modules():
        for key, hook in list(m._forward_pre_hooks.items()):
            if isinstance(hook, functools.partial) and hook.func in (_resplit, _rewiden):
                del m._forward_pre_hooks[key]
