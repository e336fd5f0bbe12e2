"""Soft Filter Pruning (He et al. 2018, "Soft Filter Pruning for Accelerating Deep CNNs", IJCAI).

The defining step: after every training epoch the lowest-L2-norm filters of every layer, at the
target rate, are set to zero, but stay in the network and keep receiving gradients, so a filter
zeroed once can grow back and another take its place. Only after the last epoch are the filters
that are zero at that moment removed structurally. Here a "layer" is a Torch-Pruning channel group
(``prune.soft_filters``), so that a residual stage's filters are chosen together and the cut is a
smaller dense network.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import nn

from torchslim.methods import MethodContext, register_method
from torchslim.prune.soft_filters import SoftPruneConfig, finish, soft_setup
from torchslim.prune.targets import channel_fraction, pruning_amount
from torchslim.train import TrainingHooks


class SFPConfig(SoftPruneConfig):
    """Soft Filter Pruning: zero the lowest-norm filters after every epoch, let them regrow, cut at the end."""

    version: ClassVar[int] = 2  # 2: zeroing resets the BN running mean; the cut folds and recalibrates

    zero_every_steps: int | None = Field(
        None,
        ge=1,
        description="zero every N training steps instead of after every epoch (the paper's rule, for its "
        "100-200 epochs): with a few epochs, the network gets many zero-and-regrow cycles, not 3",
    )


@register_method(
    "prune.sfp",
    SFPConfig,
    kind="prune",
    label="Pruning (SFP)",
    amount=pruning_amount,
    prunes=channel_fraction,
    example={"ratio": 0.5, "epochs": 1},
)
def prune_sfp(model: nn.Module, cfg: SFPConfig, ctx: MethodContext) -> nn.Module:
    groups, ratio = soft_setup(model, cfg, ctx, "prune.sfp")
    chosen = groups.choose(ratio)
    groups.zero(chosen)
    changes: list[int] = []

    def rezero(epoch: int) -> None:
        nonlocal chosen
        now = groups.choose(ratio)
        changes.append(sum(len(set(a.tolist()) ^ set(b.tolist())) // 2 for a, b in zip(chosen, now)))
        chosen = now
        groups.zero(now)

    if cfg.zero_every_steps is None:
        hooks = TrainingHooks(after_epoch=rezero)
    else:
        every = cfg.zero_every_steps
        hooks = TrainingHooks(after_step=lambda step: rezero(step) if (step + 1) % every == 0 else None)
    ctx.tune(model, cfg.epochs, "sfp", hooks=hooks)
    if cfg.zero_every_steps is not None:
        rezero(-1)  # what regrew since the last zeroing step is zeroed too: the cut then removes zeros
    ctx.notes["sfp_swapped_per_zeroing"] = changes  # filters that regrew past a zeroed one, at each zeroing
    return finish(model, groups, ratio, ctx)
