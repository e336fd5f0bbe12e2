"""Unstructured magnitude pruning with PyTorch's ``torch.nn.utils.prune``, then fine-tuning.

Masks stay attached during fine-tuning, so pruned weights stay zero while the rest recover; then
the masks are made permanent (``prune.remove``). The saved artifact stores only non-zero values
plus a bitmask (``export/sparse.py``), so the file really shrinks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn.utils import prune

from torchslim.methods.base import MethodContext, register_method
from torchslim.prune.targets import prunable_layers, require_float


class UnstructuredConfig(BaseModel):
    """Magnitude unstructured pruning (global or per layer), fine-tuned, masks made permanent."""

    model_config = ConfigDict(extra="forbid")

    sparsity: float = Field(..., ge=0.0, le=0.99, description="fraction of weights set to zero")
    scope: Literal["global", "layer"] = "global"
    finetune_epochs: int = Field(2, ge=0)
    protect: list[str] = Field(default_factory=list, description="layer names kept dense (the output layer always)")


@register_method("prune.unstructured", UnstructuredConfig)
def prune_unstructured(model: nn.Module, cfg: UnstructuredConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.unstructured")
    layers = prunable_layers(model, cfg.protect, ctx.spec.num_classes)
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
