"""Filters chosen by norm inside Torch-Pruning's dependency groups, zeroed or penalised in place while
the network trains, and removed at the end: what Soft Filter Pruning and Selective Weight Decay share.

A filter of a residual stage is not one layer's: the stage's convolutions all add into the same
channels. So the unit chosen is a channel of a dependency group (Torch-Pruning's), scored by the L2
norm of every producing filter in the group, and "zeroing a filter" zeroes that channel's filter in
every producer. A channel is more than its filters: the batch norm after a zero filter still outputs
its shift (and, with a stale running mean, a large constant in evaluation), which the next layers rely
on, so cutting it changed the network: a ResNet-20 cut to half its MACs after 3 epochs of SFP or SWD fell
from 86.6 % before the cut to 8.7 % and 22.8 % (chance 10 %). Three things make the cut what the papers
say it is, a removal that barely changes the network: SFP resets the BN running mean of what it zeroes
(evaluation then sees the shift, as training does); SWD penalises the chosen channels' BN scale and shift
with their filters; and before the cut, what the chosen channels still feed each consumer on average is
folded into that consumer's bias or the running mean of its batch norm (``fold_means``). After the cut
the batch norms' statistics are recomputed on training images (``recalibrate``, torch's ``update_bn``).
Frozen layers (option A's fixed shortcut copies) are neither scored, zeroed nor penalised, and for SFP
and SWD the channels they write are never chosen: those cannot be driven to zero.

The final cut goes through the same groups (``DependencyGraph.get_pruning_group(...).prune()``), so
what is removed is exactly what was chosen, not what another criterion would choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from pydantic import Field
from torch import nn
from torch.optim.swa_utils import update_bn

from torchslim.backends.brevitas import require_float
from torchslim.backends.torch_pruning import (
    dependency_groups,
    is_batchnorm_pruning,
    is_input_pruning,
    is_output_pruning,
    next_modules,
    output_channels_first,
)
from torchslim.data.sampling import calibration_images
from torchslim.errors import TorchslimError
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodContext
from torchslim.prune.targets import ChannelTargetConfig, kept_whole


@dataclass
class Member:
    """One layer's share of a channel group: its rows (``idxs``) and the group channels they are (``roots``)."""

    module: nn.Module
    idxs: torch.Tensor
    roots: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        """Weight and bias as views indexed by output channel (``idxs`` are a producer's output channels)."""
        params = (self.module.weight, getattr(self.module, "bias", None))
        return [output_channels_first(self.module, p) for p in params if p is not None]


@dataclass
class ChannelGroup:
    name: str  # the root layer's name
    root: nn.Module
    root_fn: object
    width: int
    members: list[Member] = field(default_factory=list)
    norms_after: list[Member] = field(default_factory=list)  # the batch norms of the group's channels
    consumers: list[Member] = field(default_factory=list)  # the convs and linears that read the channels

    def norms(self) -> torch.Tensor:
        """L2 norm per group channel of every trainable producing filter (plus its bias)."""
        sq = torch.zeros(self.width)
        for m in self.members:
            if m.module.weight.requires_grad:
                for p in m.tensors():
                    rows = p.detach()[m.idxs].reshape(len(m.idxs), -1).float()
                    sq.index_add_(0, m.roots, rows.pow(2).sum(1))
        return sq.sqrt()

    def fixed(self) -> torch.Tensor:
        """Group channels a frozen producer writes (option A's copies): they cannot be driven to zero."""
        mask = torch.zeros(self.width, dtype=torch.bool)
        for m in self.members:
            if not m.module.weight.requires_grad:
                rows = m.tensors()[0].detach()[m.idxs].reshape(len(m.idxs), -1)
                mask[m.roots[rows.abs().sum(1) > 0]] = True
        return mask

    def choose(self, ratio: float, avoid_fixed: bool = False) -> torch.Tensor:
        """The ``int(ratio * width)`` channels of lowest norm (group channel indices, sorted); with
        ``avoid_fixed``, among those no frozen producer writes (fewer when fewer are left)."""
        n = min(int(ratio * self.width), self.width - 1)
        free = torch.nonzero(~self.fixed() if avoid_fixed else torch.ones(self.width, dtype=torch.bool)).flatten()
        n = min(n, len(free))
        if n <= 0:
            return torch.empty(0, dtype=torch.long)
        order = torch.argsort(self.norms()[free], stable=True)
        return torch.sort(free[order[:n]]).values

    def rows(self, chosen: torch.Tensor, norms: bool = False):
        """(member, its rows for the chosen group channels) of every trainable producer, or (``norms``)
        of every batch norm after them."""
        mask = torch.zeros(self.width, dtype=torch.bool)
        mask[chosen] = True
        for m in self.norms_after if norms else self.members:
            if m.module.weight.requires_grad:
                yield m, m.idxs[mask[m.roots]]


@dataclass
class FilterGroups:
    """The dependency groups of ``model`` whose channels can be chosen (protected layers' are not)."""

    model: nn.Module
    graph: object
    groups: list[ChannelGroup]
    avoid_fixed: bool = False  # never choose channels a frozen producer writes (SFP, SWD)

    @classmethod
    def of(
        cls, model: nn.Module, example: torch.Tensor, ignored: list[nn.Module], where=None, avoid_fixed: bool = False
    ) -> FilterGroups:
        """``where(group)`` keeps only some Torch-Pruning groups (OBC: those with one consumer)."""
        graph, groups = dependency_groups(model, example, ignored)
        names = {id(m): n for n, m in model.named_modules()}
        out = []
        for group in groups:
            if where is not None and not where(group):
                continue
            root = group[0].dep.target.module
            chosen = ChannelGroup(
                names.get(id(root), type(root).__name__), root, group[0].dep.handler, len(group[0].idxs)
            )
            for i, (dep, idxs) in enumerate(group):
                roots = group[i].root_idxs
                if any(r is None for r in roots):
                    continue
                member = Member(dep.target.module, torch.as_tensor(list(idxs)), torch.as_tensor(list(roots)))
                if is_output_pruning(dep):
                    chosen.members.append(member)
                elif is_batchnorm_pruning(dep) and member.module.affine and member.module.track_running_stats:
                    chosen.norms_after.append(member)
                elif is_input_pruning(dep):
                    chosen.consumers.append(member)
            if any(m.module.weight.requires_grad for m in chosen.members):
                out.append(chosen)
        return cls(model, graph, out, avoid_fixed)

    def choose(self, ratio: float) -> list[torch.Tensor]:
        return [g.choose(ratio, self.avoid_fixed) for g in self.groups]

    def required(self, method: str) -> FilterGroups:
        """These groups, or one clear error when there are none: a method that cuts nothing must not pass
        for one that ran (a generator's transposed convolutions once had no group, and MACs stayed 1.0)."""
        if not self.groups:
            raise TorchslimError(
                f"{method}: no channel group of this model can be cut: its Conv2d, ConvTranspose2d and Linear "
                "layers are all outputs or protected, or none is eligible (protect fewer layers)"
            )
        return self

    @torch.no_grad()
    def zero(self, choice: list[torch.Tensor]) -> None:
        """Zero the chosen channels' filters (and biases) in every trainable producer of their group, and
        the running mean of the batch norms after them: evaluation then gives the BN shift, as training
        does (not a stale mean subtracted from a zero). The BN scale and shift stay: with a zero shift the
        channel would sit on ReLU's kink, where no gradient passes, and the filter could never regrow."""
        for g, chosen in zip(self.groups, choice):
            for m, rows in g.rows(chosen):
                for p in m.tensors():
                    p[rows] = 0
            for m, rows in g.rows(chosen, norms=True):
                m.module.running_mean[rows] = 0

    def penalty(self, choice: list[torch.Tensor], norms: bool = False) -> torch.Tensor:
        """Sum of squares of the chosen channels' trainable weights (differentiable); with ``norms``, of
        their batch norms' scale and shift too."""
        total = torch.zeros(())
        for g, chosen in zip(self.groups, choice):
            for m, rows in [*g.rows(chosen), *(g.rows(chosen, norms=True) if norms else [])]:
                for p in m.tensors():
                    total = total + p[rows].pow(2).sum()
        return total

    @torch.no_grad()
    def fold_means(self, choice: list[torch.Tensor], batches: list[torch.Tensor]) -> dict[str, int]:
        """Before the cut: what the chosen channels feed each consumer on average (a zero filter's channel
        still outputs its batch norm's shift) moves into that consumer's bias, or the running mean of the
        batch norm after it, so removing the channels leaves the consumers' outputs as they were (exactly
        for a linear layer, up to the zero-padded border for a convolution). Returns the folded and the
        skipped consumers (grouped convolutions, or no bias and no batch norm to take it)."""
        wanted: dict[int, tuple[nn.Module, set[int]]] = {}
        for g, chosen in zip(self.groups, choice):
            mask = torch.zeros(g.width, dtype=torch.bool)
            mask[chosen] = True
            for m in g.consumers:
                cols = m.idxs[mask[m.roots]].tolist()
                if cols:
                    wanted.setdefault(id(m.module), (m.module, set()))[1].update(cols)
        sums: dict[int, torch.Tensor] = {}
        counts: dict[int, int] = {}

        def record(module, inputs):
            x = inputs[0].detach()
            sums[id(module)] = sums.get(id(module), 0) + x.sum([d for d in range(x.dim()) if d != 1])
            counts[id(module)] = counts.get(id(module), 0) + x.numel() // x.shape[1]

        hooks = [m.register_forward_pre_hook(record) for m, _ in wanted.values()]
        try:
            self.model.eval()
            for b in batches:
                self.model(b)
        finally:
            for h in hooks:
                h.remove()
        folded = skipped = 0
        for key, (module, cols) in wanted.items():
            if key not in sums or getattr(module, "groups", 1) != 1 or not module.weight.requires_grad:
                skipped += 1
                continue
            mean = sums[key] / counts[key]  # per input channel, over images and positions
            idx = torch.tensor(sorted(cols))
            delta = constant_response(module, idx, mean[idx])
            after = next_modules(self.graph, module)
            norm = after[0] if len(after) == 1 else None
            if isinstance(norm, nn.modules.batchnorm._BatchNorm) and norm.track_running_stats:
                norm.running_mean -= delta  # the BN subtracts its mean: the lost input, subtracted less
            elif module.bias is not None:
                module.bias += delta
            else:
                skipped += 1
                continue
            folded += 1
        return {"folded": folded, "skipped": skipped}

    def cut(self, choice: list[torch.Tensor]) -> None:
        """Remove the chosen channels structurally from every layer of their groups."""
        for g, chosen in zip(self.groups, choice):
            if len(chosen):
                self.graph.get_pruning_group(g.root, g.root_fn, chosen.tolist()).prune()


def constant_response(layer: nn.Module, cols: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """What constant inputs ``values`` on input channels ``cols`` add to each output channel of ``layer``,
    on average over positions away from the border. A convolution sums its kernel; a transposed one
    spreads each input pixel over stride x stride outputs, so each output gets its kernel's sum / that."""
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):  # weight (in, out, k, k)
        w = layer.weight.detach()[cols]
        return w.flatten(2).sum(2).T @ values / math.prod(layer.stride)
    w = layer.weight.detach()[:, cols]
    return (w.flatten(2).sum(2) if w.dim() > 2 else w) @ values


def ratio_for_macs(
    model: nn.Module, example: torch.Tensor, ignored_names: list[str], target: float, where=None, avoid_fixed=False
) -> float:
    """Bisect the uniform per-group ratio whose cut keeps at most ``target`` of the MACs (on copies:
    MACs depend only on how many channels go, not which); ``where`` as in :meth:`FilterGroups.of`."""
    import copy

    shape = tuple(example.shape[1:])
    base = count_flops(model, shape)
    lo, hi = 0.0, 0.95
    for _ in range(10):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(model)
        named = dict(trial.named_modules())
        groups = FilterGroups.of(trial, example, [named[n] for n in ignored_names], where, avoid_fixed)
        groups.cut(groups.choose(mid))
        if count_flops(trial, shape) / base <= target:
            hi = mid
        else:
            lo = mid
    return hi


class SoftPruneConfig(ChannelTargetConfig):
    """Settings SFP and SWD share: how much to cut, how long to train towards it, what to keep whole."""

    epochs: int = Field(3, ge=1, description="training epochs while the chosen filters are soft-pruned")


def soft_setup(model: nn.Module, cfg: SoftPruneConfig, ctx: MethodContext, method: str) -> tuple[FilterGroups, float]:
    """The model's channel groups (protected layers and outputs left out) and the uniform ratio to cut."""
    require_float(model, method)
    model.eval()
    example = ctx.example_input()
    protected = kept_whole(model, cfg.protect, ctx, example)
    names = {id(m): n for n, m in model.named_modules()}
    ratio = (
        cfg.ratio
        if cfg.ratio is not None
        else ratio_for_macs(model, example, [names[id(m)] for m in protected], cfg.macs_target, avoid_fixed=True)
    )
    ctx.notes["channel_ratio"] = ratio
    return FilterGroups.of(model, example, protected, avoid_fixed=True).required(method), ratio


def finish(model: nn.Module, groups: FilterGroups, ratio: float, ctx: MethodContext) -> nn.Module:
    """Cut the channels the criterion chooses now (the ones trained towards zero) and record it."""
    before = count_flops(model, ctx.spec.shape)
    choice = groups.choose(ratio)
    norms = [float(g.norms()[c].max()) for g, c in zip(groups.groups, choice) if len(c)]
    ctx.notes["cut_filter_norm_max"] = max(norms, default=0.0)
    ctx.notes["folded_consumers"] = groups.fold_means(choice, calibration_images(ctx.data, 512, ctx.seed, 128))
    groups.cut(choice)
    ctx.notes["macs_kept"] = count_flops(model, ctx.spec.shape) / before
    ctx.notes["bn_recalibrated_on"] = recalibrate(model, ctx)
    return model.eval()


def recalibrate(model: nn.Module, ctx: MethodContext, images: int = 2048) -> int:
    """Recompute every batch norm's running statistics on training images (no gradient, no augmentation):
    what the cut network computes now, not what the uncut one did. Returns the images used (0: no BN)."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return 0
    batches = calibration_images(ctx.data, images, ctx.seed, batch_size=128)
    update_bn(batches, model)
    return sum(len(b) for b in batches)
