"""IDAP++: divergence-aware filter pruning, then flow-guided layer truncation (seed 004's method).

Stage 1 prunes filters (and linear units, attention heads) ranked globally by their divergence
score, through Torch-Pruning groups, on the schedule p_t = base · (1 + t/T)^α: the fraction of the
remaining channels removed at step t. Scores are recomputed on the current model at each step;
each step is fine-tuned by distilling from the previous step's model. A step whose top-1 falls
more than ``max_drop`` points below the original is rolled back, and stage 1 stops.

Stage 2 scores each removable block (shape-preserving, e.g. a residual block) by its flow, makes
the lowest-flow block the identity, fine-tunes, and keeps the removal only within the same budget,
up to ``truncation_budget`` removals; then one final fine-tune. Every step is recorded (dynamics).
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from torchslim.backends.brevitas import require_float
from torchslim.backends.torch_pruning import cap_against, nearest_rounding_pruner
from torchslim.data.sampling import calibration_images
from torchslim.errors import TorchslimError
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.prune.divergence import DivergenceImportance, record_flow
from torchslim.prune.shuffle import is_channel_shuffle_net, shuffle_pruner
from torchslim.prune.targets import kept_whole, layer_widths, pruning_amount
from torchslim.prune.transformers import attention_heads, sync_attributes
from torchslim.prune.truncation import removable_blocks, truncate


class IDAPConfig(MethodConfig):
    """IDAP++: divergence-aware filter pruning on a non-linear schedule, then flow-guided block truncation."""

    version: ClassVar[int] = 2  # 2: max_layer_ratio counts from the original widths (341e75a)

    macs_target: float | None = Field(None, gt=0, lt=1, description="stop stage 1 at this fraction of the MACs")
    steps: int = Field(6, ge=1, description="T: the most filter-pruning steps")
    base: float = Field(0.08, gt=0, lt=1, description="fraction of remaining channels pruned at step 0")
    alpha: float = Field(1.5, ge=0, description="schedule exponent: p_t = base * (1 + t/T)^alpha")
    max_drop: float = Field(2.0, ge=0, description="top-1 points below the original that roll a step back")
    finetune_epochs: int = Field(1, ge=0, description="fine-tuning epochs after each step")
    kd_alpha: float = Field(0.7, ge=0, le=1, description="weight of distillation from the previous step (0 = CE)")
    kd_temperature: float = Field(4.0, gt=0, description="distillation temperature")
    calibration_samples: int = Field(256, ge=1, description="images whose activations give the scores")
    max_layer_ratio: float = Field(0.8, gt=0, lt=1, description="never remove more than this of one layer")
    round_to: int | None = Field(None, gt=0, description="keep channel counts multiples of this")
    protect: list[str] = Field(default_factory=list, description="layers never pruned (output layer always)")
    truncation_budget: int = Field(0, ge=0, description="stage 2: at most this many blocks removed (0 = skip)")
    truncation_epochs: int = Field(1, ge=0, description="fine-tuning epochs after each block removal")
    final_epochs: int = Field(0, ge=0, description="one last fine-tune (distilled from the original)")


def schedule(cfg: IDAPConfig) -> list[float]:
    """p_t for t = 0..T-1, capped below 1."""
    return [min(cfg.base * (1 + t / cfg.steps) ** cfg.alpha, 0.9) for t in range(cfg.steps)]


class Snapshot:
    """A deep copy of the model before a step; ``restore`` gives back exactly those weights."""

    def __init__(self, model: nn.Module):
        self.model = copy.deepcopy(model)

    def restore(self) -> nn.Module:
        return copy.deepcopy(self.model)


def _finetune(model: nn.Module, teacher: nn.Module, epochs: int, cfg: IDAPConfig, ctx: MethodContext, tag: str) -> None:
    loss = None if cfg.kd_alpha == 0 else ctx.teacher_loss(teacher, cfg.kd_temperature, cfg.kd_alpha)
    ctx.tune(model, epochs, tag, loss=loss)


def prune_step(
    model: nn.Module,
    ratio: float,
    batches: list[torch.Tensor],
    cfg: IDAPConfig,
    ctx: MethodContext,
    original: dict | None = None,
) -> None:
    """Remove ``ratio`` of the model's channels, lowest divergence first, ranked globally.

    With attention layers the ranking is per layer instead: Torch-Pruning ranks heads in one global
    scope that can empty a layer of all its heads, which no later step could undo.
    """
    importance = DivergenceImportance(record_flow(model, batches))
    common = dict(
        importance=importance, pruning_ratio=ratio, max_pruning_ratio=cfg.max_layer_ratio, round_to=cfg.round_to
    )
    if is_channel_shuffle_net(model):  # ranked within each branch and the head (see prune/shuffle.py)
        pruner = shuffle_pruner(
            model,
            ctx.example_input(),
            lambda part, example, ignored: nearest_rounding_pruner()(
                part, example, global_pruning=True, ignored_layers=ignored, **common
            ),
        )
        parts = pruner.pruners
    else:
        heads = attention_heads(model)
        whole_heads = heads and min(int(n * ratio) for n in heads.values()) >= 1  # never round a small ratio up
        head_args = dict(
            num_heads=heads,
            prune_num_heads=bool(whole_heads),
            prune_head_dims=False,
            head_pruning_ratio=ratio if whole_heads else 0.0,
        )
        pruner = nearest_rounding_pruner()(
            model,
            ctx.example_input(),
            global_pruning=not heads,
            ignored_layers=kept_whole(model, cfg.protect, ctx),
            **common,
            **(head_args if heads else {}),
        )
        parts = [pruner]
    for part in parts if original else []:
        cap_against(part, model, original)
    pruner.step()
    sync_attributes(model, pruner)
    model.zero_grad(set_to_none=True)


def _ratio_for(
    model: nn.Module,
    ratio: float,
    target_macs: float,
    batches,
    cfg: IDAPConfig,
    ctx: MethodContext,
    original: dict | None = None,
) -> float:
    """The ratio (<= ``ratio``) whose step lands at the MACs target instead of overshooting it."""
    trial = copy.deepcopy(model)
    prune_step(trial, ratio, batches, cfg, ctx, original)
    if count_flops(trial, ctx.spec.shape) >= target_macs:
        return ratio
    lo, hi = 0.0, ratio
    for _ in range(8):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(model)
        prune_step(trial, mid, batches, cfg, ctx, original)
        lo, hi = (lo, mid) if count_flops(trial, ctx.spec.shape) < target_macs else (mid, hi)
    return hi


def filter_stage(model: nn.Module, cfg: IDAPConfig, ctx: MethodContext, original_top1: float) -> nn.Module:
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    base_macs = count_flops(model, ctx.spec.shape)
    original = layer_widths(model)
    target = cfg.macs_target * base_macs if cfg.macs_target else None
    for t, p in enumerate(schedule(cfg)):
        if target is not None and count_flops(model, ctx.spec.shape) <= target * 1.001:
            break
        if target is not None:
            p = _ratio_for(model, p, target, batches, cfg, ctx, original)
        before = Snapshot(model)
        torch.manual_seed(ctx.seed + t)
        macs_before = count_flops(model, ctx.spec.shape)
        prune_step(model, p, batches, cfg, ctx, original)
        if count_flops(model, ctx.spec.shape) >= macs_before:
            if t == 0:  # a method that cut nothing must not pass for one that ran
                raise TorchslimError(
                    f"prune.idap: its first step (p={p:.3f}) cut nothing: no layer of this model could lose a "
                    f"channel (every layer is an output, protected {cfg.protect or []}, or at max_layer_ratio="
                    f"{cfg.max_layer_ratio}); protect fewer layers or raise max_layer_ratio"
                )
            ctx.notes.setdefault("idap_stopped", f"filter step {t + 1} cut nothing (every layer at its cap)")
            break
        _finetune(model, before.model, cfg.finetune_epochs, cfg, ctx, f"idap-filter{t + 1}")
        top1 = ctx.record_step(model, len(ctx.notes.get("dynamics", [])), f"filter pruning p={p:.3f}")
        if original_top1 - top1 > cfg.max_drop:
            ctx.notes.setdefault("idap_rollbacks", []).append({"stage": "filter", "step": t + 1, "top1": top1})
            model = before.restore()
            ctx.record_step(model, len(ctx.notes["dynamics"]), "rolled back")
            break
    return model


def truncation_stage(model: nn.Module, cfg: IDAPConfig, ctx: MethodContext, original_top1: float) -> nn.Module:
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    example = ctx.example_input()
    removed, rejected = [], set()
    for _ in range(2 * cfg.truncation_budget):
        if len(removed) >= cfg.truncation_budget:
            break
        modules = dict(model.named_modules())
        record = record_flow(model, batches)
        flows = {n: record.block_flow(modules[n]) for n in removable_blocks(model, example) if n not in rejected}
        if not flows:
            break
        name = min(flows, key=flows.get)
        before = Snapshot(model)
        truncate(model, name, example)
        _finetune(model, before.model, cfg.truncation_epochs, cfg, ctx, "idap-truncate")
        top1 = ctx.record_step(model, len(ctx.notes.get("dynamics", [])), f"truncate {name} (flow {flows[name]:.3g})")
        if original_top1 - top1 > cfg.max_drop:
            rejected.add(name)
            ctx.notes.setdefault("idap_rollbacks", []).append({"stage": "truncate", "block": name, "top1": top1})
            model = before.restore()
            ctx.record_step(model, len(ctx.notes["dynamics"]), f"rolled back {name}")
        else:
            removed.append(name)
    ctx.notes["removed_blocks"] = removed
    return model


@register_method(
    "prune.idap",
    IDAPConfig,
    kind="prune",
    label="Pruning (IDAP++)",
    amount=lambda p: pruning_amount(p) if p.get("macs_target") else "to budget",
    prunes=lambda p, notes: 1 - p["macs_target"] if p.get("macs_target") else None,  # aims at MACs
    example={"macs_target": 0.6, "steps": 2, "truncation_budget": 1, "calibration_samples": 64},
)
def prune_idap(model: nn.Module, cfg: IDAPConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.idap")
    model.eval()
    original_top1 = ctx.record_step(model, 0, "original")
    model = filter_stage(model, cfg, ctx, original_top1)
    if cfg.truncation_budget:
        model = truncation_stage(model, cfg, ctx, original_top1)
    if cfg.final_epochs:
        teacher = ctx.original if ctx.original is not None else Snapshot(model).model
        _finetune(model, teacher, cfg.final_epochs, cfg, ctx, "idap-final")
        ctx.record_step(model, len(ctx.notes["dynamics"]), "final fine-tune")
    ctx.notes["schedule"] = schedule(cfg)
    return model
