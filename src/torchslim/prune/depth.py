"""Depth pruning: remove whole blocks (a residual block becomes the identity), then fine-tune.

Why a method of its own: on small inputs a network's latency has a floor set by how many layers
it runs, not by its MACs. ResNet-20 at batch 8 in ONNX Runtime runs no faster than about 2.4x its
original however narrow its channels get (12 % of the MACs: 2.43x), while dropping a third of its
blocks breaks through that floor (docs/BENCHMARKS.md, section resnet20-speed-floor). Channel
pruning cannot go there; removing blocks can, and the two combine.

Which blocks: greedily, one at a time, the block whose bypass changes the network's output least
(mean KL divergence of the softmax on calibration images; residual networks behave like ensembles
of shallower paths, so most single blocks can go with little change: Veit et al. 2016), scored
again after each removal. ``importance: flow`` ranks by IDAP++'s information flow instead. A block
is an innermost shape-preserving element of a sequence of blocks (``prune.truncation``): a residual
block, never the stage that holds it. No labels are used.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from torchslim.backends.brevitas import require_float
from torchslim.data.sampling import calibration_images
from torchslim.errors import TorchslimError
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.prune.divergence import record_flow
from torchslim.prune.truncation import removable_blocks, truncate


class DepthConfig(MethodConfig):
    """Depth pruning: remove the N blocks whose bypass changes the output least, then fine-tune."""

    version: ClassVar[int] = 1

    blocks: int = Field(..., ge=1, description="how many blocks to remove (each becomes the identity)")
    importance: Literal["kl", "flow"] = Field(
        "kl", description="kl: the output's change when the block is bypassed; flow: IDAP++'s block flow"
    )
    finetune_epochs: int = Field(2, ge=0, description="fine-tuning epochs after the blocks are removed")
    calibration_samples: int = Field(256, ge=1, description="images that score the blocks")
    protect: list[str] = Field(default_factory=list, description="blocks never removed (and those inside them)")


@torch.no_grad()
def bypass_scores(model: nn.Module, names: list[str], batches: list[torch.Tensor]) -> dict[str, float]:
    """For each block, the mean KL divergence of the model's softmax when that block passes its input
    through unchanged, from the softmax it gives now."""
    modules = dict(model.named_modules())
    reference = [F.log_softmax(model(x), dim=1) for x in batches]
    scores = {}
    for name in names:
        handle = modules[name].register_forward_hook(lambda _m, inp, _out: inp[0])
        try:
            kl = [
                F.kl_div(F.log_softmax(model(x), dim=1), ref, log_target=True, reduction="batchmean")
                for x, ref in zip(batches, reference)
            ]
        finally:
            handle.remove()
        scores[name] = float(torch.stack(kl).mean())
    return scores


def flow_scores(model: nn.Module, names: list[str], batches: list[torch.Tensor]) -> dict[str, float]:
    modules = dict(model.named_modules())
    record = record_flow(model, batches)
    return {n: float(record.block_flow(modules[n])) for n in names}


def is_protected(name: str, protect: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in protect)


def innermost(names: list[str]) -> list[str]:
    """The blocks that hold no other block: a residual block, not the stage that holds three of them
    (removing a stage at once would count as one block and cut far more than asked)."""
    return [n for n in names if not any(o.startswith(n + ".") for o in names)]


@register_method(
    "prune.depth",
    DepthConfig,
    kind="prune",
    label="Pruning (depth)",
    amount=lambda p: f"{p['blocks']} block{'s' if p['blocks'] != 1 else ''}",
    example={"blocks": 1, "finetune_epochs": 0, "calibration_samples": 32},
)
def prune_depth(model: nn.Module, cfg: DepthConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.depth")
    model.eval()
    example = ctx.example_input()
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    score = bypass_scores if cfg.importance == "kl" else flow_scores
    removed = []
    for _ in range(cfg.blocks):
        candidates = [
            n for n in innermost(removable_blocks(model, example)) if not is_protected(n, cfg.protect + ctx.protected)
        ]
        if not candidates:
            raise TorchslimError(
                f"prune.depth: {type(model).__name__} has {len(removed)} removable block(s) "
                f"({', '.join(b['block'] for b in removed) or 'none'}), {cfg.blocks} were asked; a block is a "
                "shape-preserving element of a Sequential or ModuleList that holds a conv or linear layer"
            )
        scores = score(model, candidates, batches)
        name = min(scores, key=scores.get)
        truncate(model, name, example)
        removed.append({"block": name, cfg.importance: scores[name]})
    ctx.notes["removed_blocks"] = [r["block"] for r in removed]
    ctx.notes["depth_scores"] = removed
    ctx.tune(model, cfg.finetune_epochs, "depth")
    return model
