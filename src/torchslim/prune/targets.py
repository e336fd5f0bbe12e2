"""Which layers a pruner may touch: never the output layer, never a layer the user protects."""

from __future__ import annotations

from torch import nn

from torchslim.errors import ConfigError

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def output_layer(model: nn.Module, num_classes: int) -> nn.Module | None:
    """The last conv/linear layer producing ``num_classes`` outputs: the classifier head."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear) and m.out_features == num_classes:
            last = m
        elif isinstance(m, nn.Conv2d) and m.out_channels == num_classes:
            last = m
    return last


def pruning_amount(params: dict) -> str:
    """The report's compression cell for a channel-pruning step: its ratio, its MACs budget, or per layer."""
    if params.get("ratio") is not None:
        return f"{100 * params['ratio']:.0f}%"
    if params.get("macs_target") is not None:
        return f"MACs ≤ {100 * params['macs_target']:.0f}%"
    return "per layer"


def protected_layers(model: nn.Module, names: list[str], num_classes: int) -> list[nn.Module]:
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
    return out + ([head] if head is not None else [])


def prunable_layers(model: nn.Module, protect: list[str], num_classes: int) -> list[tuple[str, nn.Module]]:
    skip = {id(m) for m in protected_layers(model, protect, num_classes)}
    return [(n, m) for n, m in model.named_modules() if isinstance(m, WEIGHTED) and id(m) not in skip]


def layer_widths(model: nn.Module) -> dict[str, tuple[int | None, int | None]]:
    """(out, in) channels of every conv and linear layer, by name."""
    return {
        n: (
            getattr(m, "out_channels", getattr(m, "out_features", None)),
            getattr(m, "in_channels", getattr(m, "in_features", None)),
        )
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    }
