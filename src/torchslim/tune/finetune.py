"""``finetune``: the trained model fine-tuned for ``epochs`` with the recipe's fine-tuning settings, nothing cut.

A pruned model is fine-tuned after its cut; comparing it with a baseline that was not credits the
pruning with the extra training. This method gives the fair reference: the baseline trained the same
number of extra epochs (seed 003's "0 %" row), on any task kind (its fine-tuning is the kind's).
"""

from __future__ import annotations

from pydantic import Field
from torch import nn

from torchslim.methods import MethodConfig, MethodContext, register_method


class FinetuneConfig(MethodConfig):
    """Fine-tune only (the fair reference of a pruned model's extra training): epochs."""

    epochs: int = Field(..., ge=0, description="fine-tuning epochs (0: the model as trained)")


@register_method(
    "finetune",
    FinetuneConfig,
    kind="other",
    label="Fine-tuned (reference)",
    amount=lambda p: f"{p['epochs']} epochs",
    example={"epochs": 1},
)
def finetune_only(model: nn.Module, cfg: FinetuneConfig, ctx: MethodContext) -> nn.Module:
    ctx.tune(model, cfg.epochs, "finetune")
    return model
