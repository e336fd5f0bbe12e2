"""Selective Weight Decay (Tessier et al. 2022, "Rethinking Weight Decay for Efficient Neural Network
Pruning", J. Imaging 8(3):64).

The defining step: a penalty ``a(t) * ||W_S||^2`` on the weights currently chosen for removal
(``S``: the lowest-norm filters at the target rate, chosen again as training goes), whose
coefficient grows geometrically from ``penalty_start`` to ``penalty_end`` over the training steps.
The chosen filters are driven continuously to zero while the rest adapt, so the final cut (Torch-
Pruning groups, as ``prune.sfp``) barely changes the network. Structured, filter-wise: the penalty
covers the chosen channels' batch-norm scale and shift too, so the whole channel goes to zero, not only
its filter (a zero filter followed by a BN shift still outputs a constant the next layers rely on).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from torch import nn

from torchslim.methods import MethodContext, register_method
from torchslim.prune.soft_filters import SoftPruneConfig, finish, soft_setup
from torchslim.prune.targets import channel_fraction, pruning_amount
from torchslim.train import TrainingHooks


class SWDConfig(SoftPruneConfig):
    """Selective Weight Decay: a growing penalty on the filters chosen for removal, then the cut."""

    version: ClassVar[int] = 2  # 2: the penalty covers the chosen channels' BN; BN statistics recomputed after the cut

    penalty_start: float = Field(5e-4, gt=0, description="penalty coefficient at the first step")
    penalty_end: float = Field(5.0, gt=0, description="penalty coefficient at the last step (geometric growth)")
    reselect_every: int = Field(1, ge=1, description="choose the penalised filters again every N steps")

    @model_validator(mode="after")
    def _growing(self) -> "SWDConfig":
        if self.penalty_end < self.penalty_start:
            raise ValueError("penalty_end must be >= penalty_start: the penalty grows over training")
        return self


def penalty_coefficient(cfg: SWDConfig, step: int, total_steps: int) -> float:
    """a(t) = start * (end / start) ** (t / (T - 1)): start at the first step, end at the last."""
    t = min(max(step, 0), max(total_steps - 1, 0)) / max(total_steps - 1, 1)
    return cfg.penalty_start * (cfg.penalty_end / cfg.penalty_start) ** t


@register_method(
    "prune.swd",
    SWDConfig,
    kind="prune",
    label="Pruning (SWD)",
    amount=pruning_amount,
    prunes=channel_fraction,
    example={"ratio": 0.5, "epochs": 1},
)
def prune_swd(model: nn.Module, cfg: SWDConfig, ctx: MethodContext) -> nn.Module:
    groups, ratio = soft_setup(model, cfg, ctx, "prune.swd")
    steps_per_epoch = max(1, len(ctx.data.train) // ctx.finetune.batch_size)
    total = cfg.epochs * steps_per_epoch
    state = {"chosen": groups.choose(ratio), "at": 0}

    def penalty(step: int):
        if step - state["at"] >= cfg.reselect_every:
            state["chosen"], state["at"] = groups.choose(ratio), step
        return penalty_coefficient(cfg, step, total) * groups.penalty(state["chosen"], norms=True)

    ctx.tune(model, cfg.epochs, "swd", hooks=TrainingHooks(penalty=penalty))
    ctx.notes["swd_penalty_range"] = [cfg.penalty_start, cfg.penalty_end]
    return finish(model, groups, ratio, ctx)
