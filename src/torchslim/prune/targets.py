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


def require_float(model: nn.Module, method: str) -> None:
    """Pruning works on float networks; a Brevitas-quantized one is pruned before quantizing."""
    from torchslim.errors import TorchslimError
    from torchslim.quant.lowbit import is_brevitas

    if is_brevitas(model):
        raise TorchslimError(f"{method} does not apply to a model already quantized with Brevitas; prune its float "
                             "version (e.g. cnv), then quantize with quant.lowbit in the same chain")


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
