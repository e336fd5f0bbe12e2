"""Structured channel/filter pruning through Torch-Pruning's dependency graph.

The dependency graph finds coupled layers (a residual stage's convolutions and batch norms, a
depthwise conv and its producer) and removes the same channels from all of them, so the pruned
network is a smaller dense network: fewer MACs, and a real speedup in any runtime.
Criteria (importance), mechanics (Torch-Pruning) and schedule (``steps``) are kept apart.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from torchslim.backends.brevitas import require_float
from torchslim.backends.torch_pruning import (
    Importance,
    cap_against,
    is_output_pruning,
    make_importance,
    nearest_rounding_pruner,
    own_width_pruners,
    passthrough_pruners,
    patch_merging_pruners,
    tied_attention_pruners,
)
from torchslim.errors import TorchslimError
from torchslim.export.outputs import flatten_output
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodConfig, MethodContext, register_method
from torchslim.prune import conv_attention
from torchslim.prune.guard import (
    UntraceableGraph,
    check_memory,
    copy_model,
    guarded_step,
    time_limit,
    trace_side,
)
from torchslim.prune.opaque import is_opaque, opaque_units
from torchslim.prune.opaque import resolve as resolve_opaque
from torchslim.prune.parts import parts_pruner
from torchslim.prune.probing import executed_layers, width_agnostic_units
from torchslim.prune.sensitivity import SensitivityConfig, analyze
from torchslim.prune.shuffle import is_channel_shuffle_net, shuffle_pruner
from torchslim.prune.splits import equal_split_modules, follow_splits, split_modules, stop_following
from torchslim.prune.targets import (
    channel_fraction,
    kept_whole,
    layer_widths,
    output_layer,
    output_layers,
    pruning_amount,
)
from torchslim.prune.transformers import (
    PROJ_NAMES,
    attention_heads,
    head_attentions,
    packed_gates,
    spatial_gates,
    stacked_projections,
    sync_attributes,
    tied_attentions,
    whole_head_widths,
)
from torchslim.ui import console


class StructuredConfig(MethodConfig):
    """Channel pruning via Torch-Pruning: ratio or MACs budget, iterative steps, protected layers."""

    # 2: depthwise networks cut only their hidden widths by default (depthwise: auto);
    # 3: ghost modules cut in pairs, ShuffleNetV2's stem cut
    version: ClassVar[int] = 3

    ratio: float | None = Field(None, gt=0.0, lt=1.0, description="fraction of channels removed per layer group")
    macs_target: float | None = Field(None, gt=0.0, lt=1.0, description="keep this fraction of the MACs instead")
    importance: Importance = Field("l1", description="channel criterion (taylor needs a batch of training data)")
    global_pruning: bool = Field(False, description="rank channels across layers instead of per layer")
    steps: int = Field(1, ge=1, description="iterative schedule: prune in N steps, fine-tuning after each")
    finetune_epochs: int = Field(2, ge=0, description="fine-tuning epochs after each step")
    round_to: int | None = Field(None, gt=0, description="keep the nearest multiple of this many channels (e.g. 8)")
    protect: list[str] = Field(default_factory=list, description="layer names never pruned (output layer always)")
    layer_ratios: dict[str, float] = Field(
        default_factory=dict, description="per-group ratios keyed by the group's root layer name"
    )
    sensitivity: SensitivityConfig | None = Field(
        None, description="measure per-group sensitivity first and prune each group at its suggested ratio"
    )
    depthwise: Literal["auto", "hidden", "all"] = Field(
        "auto",
        description="on networks with depthwise convolutions, 'hidden' cuts only channel groups that pass "
        "through one (the expansion width of inverted residuals) and keeps the residual widths, whose cut "
        "saves MACs but little time; 'all' cuts every group; auto = hidden where depthwise convs exist",
    )

    @model_validator(mode="after")
    def _one_target(self) -> "StructuredConfig":
        if self.ratio is not None and self.macs_target is not None:
            raise ValueError("give one of ratio (e.g. 0.5) or macs_target (e.g. 0.5 = half the MACs), not both")
        if self.ratio is None and self.macs_target is None and not self.layer_ratios and self.sensitivity is None:
            raise ValueError(
                "give ratio (e.g. 0.5), macs_target (e.g. 0.5 = half the MACs), layer_ratios or sensitivity"
            )
        bad = {k: v for k, v in self.layer_ratios.items() if not 0.0 <= v < 1.0}
        if bad:
            raise ValueError(f"layer_ratios must be in [0, 1), got {bad}")
        return self


#: bounds on Torch-Pruning's dependency search, whose group fixing can cycle (ReXNet): past them,
#: the whole model falls back to part-wise pruning, and a part to its children
TRACE_SECONDS, PART_TRACE_SECONDS = 30.0, 10.0


def make_pruner(
    model: nn.Module,
    cfg: StructuredConfig,
    ratio: float,
    ctx: MethodContext,
    example: torch.Tensor | None = None,
    protected: list[str] = (),
    partwise: bool = False,
    opaque: dict[str, tuple] | None = None,
):
    """The pruner for ``model``, traced on ``example`` (default: one image of the task's input), with
    ``protected`` layer names kept whole beside the user's ``protect`` and the output layer;
    ``partwise`` traces the model's parts one by one (``prune.parts``) instead of as a whole; ``opaque``
    names blocks traced as opaque units (``prune.opaque``)."""
    example = ctx.example_input() if example is None else example
    if is_channel_shuffle_net(model):  # Torch-Pruning cannot trace the shuffle: prune inside the branches
        if cfg.layer_ratios or cfg.global_pruning:
            raise TorchslimError(
                "prune.structured: channel-shuffle networks are pruned branch by branch; "
                "layer_ratios and global_pruning are not supported for them"
            )
        return shuffle_pruner(
            model,
            example,
            lambda part, example, ignored: nearest_rounding_pruner()(
                part,
                example,
                importance=make_importance(cfg.importance),
                pruning_ratio=ratio,
                iterative_steps=cfg.steps,
                ignored_layers=ignored,
                round_to=cfg.round_to,
            ),
        )
    ignored = kept_whole(model, cfg.protect + list(protected), ctx, example)
    if partwise:
        if cfg.layer_ratios or cfg.global_pruning:
            raise TorchslimError(
                f"prune.structured: {type(model).__name__} is pruned part by part (its whole graph does not "
                "trace); layer_ratios and global_pruning are not supported for it"
            )

        def part_pruner(part, x, keep):
            with time_limit(PART_TRACE_SECONDS):
                return _meta_pruner(part, cfg, ratio, x, keep)

        pruner = parts_pruner(model, example, part_pruner, ignored)
        if not pruner.parts:
            raise TorchslimError(f"prune.structured: no part of {type(model).__name__} can be traced for pruning")
        return pruner
    ratios = _layer_ratio_dict(model, cfg.layer_ratios)
    try:
        with time_limit(TRACE_SECONDS):
            return _meta_pruner(model, cfg, ratio, example, ignored, ratios, opaque)
    except Exception as exc:  # noqa: BLE001  (Torch-Pruning raises many types on graphs it cannot trace)
        raise UntraceableGraph(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}") from None


def _layer_ratio_dict(model: nn.Module, layer_ratios: dict[str, float]) -> dict[nn.Module, float]:
    modules = dict(model.named_modules())
    unknown = [n for n in layer_ratios if n not in modules]
    if unknown:
        raise TorchslimError(
            f"prune.structured: layer_ratios names no layer {', '.join(map(repr, unknown[:3]))} "
            "in this model; use the root layer names of a sensitivity table"
        )
    return {modules[n]: r for n, r in layer_ratios.items()}


def _meta_pruner(model: nn.Module, cfg: StructuredConfig, ratio: float, example, ignored, ratios=None, opaque=None):
    heads = attention_heads(model)
    # Torch-Pruning removes ceil(ratio x heads) heads: every head of a one-head attention (Hiera's first
    # stage), both of a two-head one past ratio 0.5. At least one head stays; a single head keeps its width.
    ignored = [*ignored, *(qkv for qkv, h in heads.items() if h < 2)]
    heads = {qkv: h for qkv, h in heads.items() if h >= 2}
    head_args = dict(
        num_heads=heads,
        prune_num_heads=True,
        prune_head_dims=False,
        head_pruning_ratio=ratio,
        head_pruning_ratio_dict={qkv: min(ratio, (h - 1) / h - 1e-6) for qkv, h in heads.items()},
    )
    tied_units = tied_attentions(model)
    whole = whole_head_widths(tied_units)
    tied = tied_attention_pruners(model, tied_units, stacked_projections, PROJ_NAMES, frozenset(whole))
    units = patch_merging_pruners(model) | tied
    units |= own_width_pruners(model, conv_attention.conv_attentions(model))
    units |= passthrough_pruners(model, width_agnostic_units(model, example))
    units |= own_width_pruners(model, resolve_opaque(model, opaque or {}))
    gates = spatial_gates(model)
    return nearest_rounding_pruner()(
        model,
        example,
        importance=make_importance(cfg.importance),
        global_pruning=cfg.global_pruning,
        pruning_ratio=ratio,
        iterative_steps=cfg.steps,
        ignored_layers=ignored,
        round_to=cfg.round_to,
        pruning_ratio_dict=ratios or None,
        customized_pruners=units or None,
        token_mixers=list(gates),
        head_attentions=head_attentions(model),  # traced without their rotary embeddings and masks
        width_multiples=whole,  # a rotary attention's residual loses whole heads
        # the halves of a gate (gMLP's spatial gate, a GLU MLP's packed first layer), ranked as pairs
        out_channel_groups={fc1: 2 for fc1 in [*gates.values(), *packed_gates(model, gates)]},
        # an equal split's chunks lose the same positions each (``prune.splits``)
        in_channel_groups={r: len(rs) for _, rs in equal_split_modules(model, example).values() for r in rs},
        output_transform=flat_outputs,  # a dict, tuple or dataclass of outputs: every one traced
        **(head_args if heads else {}),
    )


def flat_outputs(out) -> list[torch.Tensor]:
    return [t for _, t in flatten_output(out)]


def taylor_gradients(cfg: StructuredConfig, ctx: MethodContext):
    """Taylor importance needs gradients of the loss on real data before each step."""
    if cfg.importance != "taylor":
        return None

    def prepare(model: nn.Module) -> None:
        model.zero_grad()
        x, y = ctx.calibration_batch()
        nn.functional.cross_entropy(model(x), y).backward()

    return prepare


class Cutter:
    """Steps of one pruning schedule over a model, each guarded (``prune.guard``) except for
    channel-shuffle networks, whose branch pruners are fixed by construction."""

    def __init__(self, model: nn.Module, cfg: StructuredConfig, ratio: float, ctx: MethodContext):
        self.cfg, self.ratio, self.ctx = cfg, ratio, ctx
        check_memory(model)
        self.side = trace_side(model, ctx.spec.shape, ctx.spec.num_classes)
        self.example = torch.zeros(1, ctx.spec.in_channels, self.side, self.side)
        self.protected: list[str] = []
        self.original = layer_widths(model)
        self.active = executed_layers(model.eval(), self.example)
        self.steps_done = 0
        self.shuffle = is_channel_shuffle_net(model)
        self.partwise = False
        self.opaque: dict[str, tuple] = {}  # blocks traced as opaque units, found when the whole graph failed
        self.attention_units = conv_attention.unit_sizes(
            model, cfg.protect + ctx.protected
        )  # cut by the units themselves
        self.hidden_only = cfg.depthwise == "hidden" or (cfg.depthwise == "auto" and has_depthwise(model))
        try:
            self.pruner = make_pruner(model, cfg, ratio, ctx, self.example)
        except UntraceableGraph:
            self.pruner = self.fall_back(model)

    def fall_back(self, model: nn.Module):
        """The whole graph does not trace or cannot be cut: the whole graph again with the blocks that
        do not trace alone as opaque units (``prune.opaque``), where there are any; then part by part."""
        if self.partwise:
            raise TorchslimError(f"prune.structured: {type(model).__name__} cannot be pruned, whole or in parts")
        self.partwise = True
        parts = self.build(model, self.protected)
        found = {} if self.opaque else opaque_units(model, self.example, parts.failed)
        if found:
            self.opaque, self.partwise = found, False
            try:
                pruner = self.build(model, self.protected)
                self.ctx.notes["opaque_units"] = sorted(found)
                return pruner
            except UntraceableGraph:
                self.partwise = True
        self.ctx.notes.pop("opaque_units", None)
        self.ctx.notes["partwise"] = True
        return parts

    def build(self, model: nn.Module, protected: list[str]):
        pruner = make_pruner(model, self.cfg, self.ratio, self.ctx, self.example, protected, self.partwise, self.opaque)
        if self.steps_done:  # a rebuilt pruner mid-schedule counts its caps from the original widths
            cap_against(pruner, model, self.original)
        return pruner

    def step(self, model: nn.Module) -> nn.Module:
        prepare = taylor_gradients(self.cfg, self.ctx)
        if self.shuffle:
            if prepare is not None:
                prepare(model)
            self.pruner.step()
        else:
            follow_splits(split_modules(model, self.example), equal_split_modules(model, self.example))  # sizes follow
            try:
                model, self.pruner = guarded_step(
                    model,
                    self.pruner,
                    self.build,
                    self.protected,
                    self.example,
                    before_step=prepare,
                    after_cut=sync_attributes,
                    on_graph_failure=self.fall_back,
                    skip=None if not self.hidden_only else lambda g: not passes_depthwise(g),
                )
            finally:
                stop_following(model)
        sync_attributes(model, self.pruner)
        if self.attention_units and self.ratio:
            kept = 1 - self.ratio * (self.steps_done + 1) / self.cfg.steps
            self.ctx.notes["attention_units"] = conv_attention.cut_all(model, self.attention_units, kept)
        model.zero_grad(set_to_none=True)
        self.steps_done += 1
        return model


def has_depthwise(model: nn.Module) -> bool:
    return any(is_depthwise(m) for m in model.modules())


def is_depthwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels == m.out_channels


def passes_depthwise(group) -> bool:
    """Whether a channel group is cut under ``depthwise: hidden``: it runs through a depthwise convolution
    (an inverted residual's hidden width) or a linear layer (a hybrid's transformer widths, where MACs
    follow compute), or a single convolution produces it (a fused block's expansion). Left whole: the
    residual widths that several convolutions add into."""
    if any(
        is_depthwise(m) or isinstance(m, nn.Linear) or is_opaque(m) for m in (dep.target.module for dep, _ in group)
    ):  # an opaque unit (a token mixer that did not trace) counts as a linear layer: MACs follow compute
        return True
    producers = {id(dep.target.module) for dep, _ in group if is_output_pruning(dep)}
    return len(producers) <= 1


def ratio_for_macs(model: nn.Module, cfg: StructuredConfig, ctx: MethodContext) -> float:
    """Bisect the channel ratio whose pruned copy keeps at most ``macs_target`` of the MACs."""
    base = count_flops(model, ctx.spec.shape)
    lo, hi = 0.0, 0.95
    one_shot = cfg.model_copy(update={"steps": 1, "importance": "l1" if cfg.importance == "taylor" else cfg.importance})
    for _ in range(10):
        mid = (lo + hi) / 2
        torch.manual_seed(ctx.seed)
        trial = copy_model(model)
        trial = Cutter(trial, one_shot, mid, ctx).step(trial)
        if count_flops(trial, ctx.spec.shape) / base <= cfg.macs_target:
            hi = mid
        else:
            lo = mid
    return hi


def record_cut(before: dict, model: nn.Module, ratio: float, cutter: Cutter, ctx: MethodContext) -> None:
    """What was cut, for the record: the share of output channels removed from the layers that could
    be pruned, the trace size, and the layers kept whole; less than asked is said, never silent."""
    after = layer_widths(model)
    head = output_layer(model, ctx.spec.num_classes)
    names = {id(m): n for n, m in model.named_modules()}
    counted = [n for n in before if n in after and n in cutter.active and n != names.get(id(head))]
    total = sum(before[n][0] or 0 for n in counted)
    kept = sum(after[n][0] or 0 for n in counted)
    removed = 1 - kept / total if total else 0.0
    ctx.notes["cut"] = {"asked": ratio, "channels_removed": round(removed, 4)}
    if cutter.side != ctx.spec.image_size:
        ctx.notes["trace_input"] = f"{cutter.side}x{cutter.side} (the task's input is {ctx.spec.image_size})"
    if cutter.protected:
        ctx.notes["protected"] = list(cutter.protected)
    if cutter.partwise:
        ctx.notes["parts"] = list(cutter.pruner.parts)
    unscored = getattr(cutter.pruner, "unscored", [])
    if unscored:  # groups Torch-Pruning could not score are kept whole: named, not silent
        names = {id(m): n for n, m in model.named_modules()}
        ctx.notes["unscored"] = sorted({names.get(id(m), type(m).__name__) for m, _ in unscored})
    if ratio and removed < 0.8 * ratio:
        whole = cutter.protected + ctx.notes.get("unscored", [])
        where = f"; kept whole: {', '.join(whole[:8])}{' ...' if len(whole) > 8 else ''}" if whole else ""
        ctx.notes["cut_warning"] = (
            f"asked to remove {100 * ratio:.0f}% of channels, removed {100 * removed:.0f}% of prunable layers' "
            f"output channels{where}{parts_only(cutter)}{output_widths(model, cutter, names, ctx.spec.num_classes)}"
        )
        console.print(f"[yellow]note[/yellow] prune.structured: {ctx.notes['cut_warning']}")


def parts_only(cutter: Cutter) -> str:
    """Why a short cut may be short: the whole graph did not trace, and only the parts that did were cut."""
    if not cutter.partwise:
        return ""
    parts = list(cutter.pruner.parts)
    shown = ", ".join(parts[:4]) + (" ..." if len(parts) > 4 else "")
    return (
        f"; the whole graph does not trace, so only {len(parts)} part(s) that do were cut ({shown}) and every "
        "layer outside them keeps its width"
    )


def output_widths(model: nn.Module, cutter: Cutter, names: dict[int, str], num_classes: int) -> str:
    """Why a short cut may be right: the layers that write the model's output keep its width. Classifier
    heads (``num_classes`` outputs, one or a distilled pair) are not the reason; several other writers are
    the blocks of a residual stream the model returns whole (a headless model's features,
    ``num_classes=0``), whose width is then the output's and is not cut."""
    writers = [
        names.get(id(m), type(m).__name__)
        for m in output_layers(model, cutter.example)
        if getattr(m, "out_features", getattr(m, "out_channels", None)) != num_classes
    ]
    if len(writers) < 2:
        return ""
    shown = ", ".join(writers[:4]) + (" ..." if len(writers) > 4 else "")
    return (
        f"; {len(writers)} layers write the model's output directly and keep its width (a model that returns its "
        f"features, e.g. with no classifier head, keeps the residual width): {shown}"
    )


def suggested_ratios(model: nn.Module, scfg: SensitivityConfig, ctx: MethodContext) -> dict[str, float]:
    """Per-group ratios from a sensitivity analysis on the context's data (no fine-tuning inside)."""
    report = analyze(model, ctx.data, ctx.spec, scfg)
    ctx.notes["sensitivity_baseline_top1"] = report.baseline_top1
    return report.suggested_ratios()


@register_method(
    "prune.structured",
    StructuredConfig,
    kind="prune",
    label="Pruning (Struct.)",
    amount=pruning_amount,
    prunes=channel_fraction,
    example={"ratio": 0.5},
)
def prune_structured(model: nn.Module, cfg: StructuredConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.structured")
    model.eval()
    if cfg.sensitivity is not None:
        scfg = cfg.sensitivity.model_copy(update={"protect": cfg.protect + cfg.sensitivity.protect})
        cfg = cfg.model_copy(update={"layer_ratios": suggested_ratios(model, scfg, ctx) | cfg.layer_ratios})
    if cfg.ratio is not None or cfg.macs_target is None:
        ratio = cfg.ratio or 0.0
    else:
        ratio = ratio_for_macs(model, cfg, ctx)
    ctx.notes["channel_ratio"] = ratio
    if cfg.layer_ratios:
        ctx.notes["layer_ratios"] = cfg.layer_ratios
    torch.manual_seed(ctx.seed)
    cutter = Cutter(model, cfg, ratio, ctx)
    before = layer_widths(model)
    if cfg.steps > 1:  # an iterative schedule: its dynamics go to the report (seed 004's table)
        ctx.record_step(model, 0, "original")
    for i in range(cfg.steps):
        model = cutter.step(model)
        ctx.tune(model, cfg.finetune_epochs, f"structured-step{i + 1}")
        if cfg.steps > 1:
            ctx.record_step(model, i + 1, "filter pruning + fine-tune")
    record_cut(before, model, ratio, cutter, ctx)
    return model
