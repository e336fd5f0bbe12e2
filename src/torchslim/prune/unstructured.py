"""Unstructured magnitude pruning with PyTorch's ``torch.nn.utils.prune``, then fine-tuning.

Masks stay attached during fine-tuning, so pruned weights stay zero while the rest recover; then
the masks are made permanent (``prune.remove``). The saved artifact stores only non-zero values
plus a bitmask (``export/sparse.py``), so the file really shrinks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import nn
from torch.nn.utils import prune

from torchslim.backends.brevitas import require_float
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.prune.targets import prunable_layers


class UnstructuredConfig(MethodConfig):
    """Magnitude unstructured pruning (global or per layer), fine-tuned, masks made permanent."""

    sparsity: float = Field(..., ge=0.0, le=0.99, description="fraction of weights set to zero")
    scope: Literal["global", "layer"] = Field("global", description="one threshold for all layers, or per layer")
    finetune_epochs: int = Field(2, ge=0, description="fine-tuning epochs with the masks attached")
    protect: list[str] = Field(default_factory=list, description="layer names kept dense (the output layer always)")


@register_method(
    "prune.unstructured",
    UnstructuredConfig,
    kind="prune",
    label="Pruning (Unstr.)",
    amount=lambda p: f"{100 * p['sparsity']:.0f}%",
    prunes=lambda p, notes: p["sparsity"],
    example={"sparsity": 0.5},
)
def prune_unstructured(model: nn.Module, cfg: UnstructuredConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.unstructured")
    layers = prunable_layers(model, cfg.protect + ctx.protected, ctx.spec.num_classes)
    params = [(m, "weight") for _, m in layers]
    if cfg.sparsity > 0:
        if cfg.scope == "global":
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=cfg.sparsity)
        else:
            for m, name in params:
                prune.l1_unstructured(m, name, amount=cfg.sparsity)
    ctx.tune(model, cfg.finetune_epochs, "unstructured")
    for m, name in params:
        if prune.is_pruned(m):
            prune.remove(m, name)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in params)
    total = sum(m.weight.numel() for m, _ in params)
    ctx.notes["pruned_weight_sparsity"] = zeros / total if total else 0.0
    return model
