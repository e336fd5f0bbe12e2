"""Which layers a pruner may touch: never an output layer, never a layer the user protects.

An output layer is one whose output reaches a model output without passing through another
conv or linear layer: a classifier, every head of a detector, the classifiers of a segmentation
model (however they are summed, upsampled or reshaped on the way). Cutting its channels would
change what the model returns. They are found by walking the autograd graph back from each output
to the first weighted layer on every path, so no architecture needs to be named.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import nn

from torchslim.errors import ConfigError
from torchslim.methods.registry import MethodConfig
from torchslim.prune.probing import CHANNEL_LAYERS

WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)  # transposed convolutions too: a generator's output layer is one


def output_layer(model: nn.Module, num_classes: int) -> nn.Module | None:
    """The last conv/linear layer producing ``num_classes`` outputs: the classifier head."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.out_features == num_classes:
            last = m
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.out_channels == num_classes:
            last = m
    return last


def pruning_amount(params: dict) -> str:
    """The report's compression cell for a channel-pruning step: its ratio, its MACs budget, or per layer."""
    if params.get("ratio") is not None:
        return f"{100 * params['ratio']:.0f}%"
    if params.get("macs_target") is not None:
        return f"MACs ≤ {100 * params['macs_target']:.0f}%"
    return "per layer"


class ChannelTargetConfig(MethodConfig):
    """How much a channel-pruning method cuts (a ratio per group, or a MACs budget) and what it keeps whole."""

    ratio: float | None = Field(None, gt=0.0, lt=1.0, description="fraction of every group's channels removed")
    macs_target: float | None = Field(None, gt=0.0, lt=1.0, description="keep this fraction of the MACs instead")
    protect: list[str] = Field(default_factory=list, description="layers never pruned (output layer always)")

    @model_validator(mode="after")
    def _one_target(self):
        if (self.ratio is None) == (self.macs_target is None):
            raise ValueError("give one of ratio (e.g. 0.5) or macs_target (e.g. 0.5 = half the MACs)")
        return self


def channel_fraction(params: dict, notes: dict) -> float | None:
    """The fraction of channels a channel-pruning step removes: its ratio, else the one it found for
    its MACs target (recorded as ``channel_ratio``); a method's ``prunes`` fact."""
    return params["ratio"] if params.get("ratio") is not None else notes.get("channel_ratio")


def output_layers(model: nn.Module, example: torch.Tensor) -> list[nn.Module]:
    """Every conv/linear layer whose output reaches a model output through no other weighted layer."""
    from torchslim.export.outputs import flatten_output

    made: dict[object, nn.Module] = {}  # the autograd node that made a layer's output -> the layer

    def record(module, _inputs, output):
        if torch.is_tensor(output) and output.grad_fn is not None:
            made[output.grad_fn] = module

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, WEIGHTED)]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            outputs = [t for _, t in flatten_output(model(example.detach().clone().requires_grad_(True)))]
    except Exception:  # noqa: BLE001  (a model that fails here fails its pruning with its own message)
        return []
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    found: list[nn.Module] = []
    seen: set[int] = set()
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node in made:
            if all(made[node] is not m for m in found):
                found.append(made[node])
            continue  # the walk stops at the first weighted layer on each path
        stack += [nxt for nxt, _ in node.next_functions]
    return found


def protected_layers(
    model: nn.Module, names: list[str], num_classes: int, example: torch.Tensor | None = None
) -> list[nn.Module]:
    """The user's ``protect`` names, the classifier head, and (given an example input) every output layer."""
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules]
    if unknown:
        close = [n for n in modules if n and any(u.split(".")[-1] in n for u in unknown)][:5]
        raise ConfigError(
            f"protect: no layer named {', '.join(map(repr, unknown))} in this model"
            + (f"; similar names: {', '.join(close)}" if close else "")
        )
    out = [modules[n] for n in names]
    head = output_layer(model, num_classes)
    out += [head] if head is not None else []
    if example is not None:
        out += [m for m in output_layers(model, example) if all(m is not o for o in out)]
    return out


def kept_whole(model: nn.Module, names: list[str], ctx, example: torch.Tensor | None = None) -> list[nn.Module]:
    """The layers a cut leaves whole: a method's ``protect`` names, the task kind's (``ctx.protected``) and
    (given ``example``) the output layers, found by tracing it."""
    return protected_layers(model, names + ctx.protected, ctx.spec.num_classes, example)


def prunable_layers(model: nn.Module, protect: list[str], num_classes: int) -> list[tuple[str, nn.Module]]:
    skip = {id(m) for m in protected_layers(model, protect, num_classes)}
    return [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHTED) and id(m) not in skip]


def layer_widths(model: nn.Module) -> dict[str, tuple[int | None, int | None]]:
    """(out, in) channels of every conv, transposed conv and linear layer, by name."""
    return {
        n: (
            getattr(m, "out_channels", getattr(m, "out_features", None)),
            getattr(m, "in_channels", getattr(m, "in_features", None)),
        )
        for n, m in model.named_modules()
        if isinstance(m, CHANNEL_LAYERS)
    }
