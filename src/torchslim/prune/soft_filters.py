"""Filters chosen by norm inside Torch-Pruning's dependency groups, zeroed or penalised in place while
the network trains, and removed at the end: what Soft Filter Pruning and Selective Weight Decay share.

A filter of a residual stage is not one layer's: the stage's convolutions all add into the same
channels. So the unit chosen is a channel of a dependency group (Torch-Pruning's), scored by the L2
norm of every producing filter in the group, and "zeroing a filter" zeroes that channel's filter in
every producer. The batch norms after them are left alone, as in the papers: a zeroed BN scale would
get no gradient again (its normalised input is constant), so the filter could never regrow; the
channel outputs the BN shift until it is cut, and the final cut drops that constant. Frozen layers
(option A's fixed shortcut copies) are neither scored, zeroed nor penalised: they cannot regrow.

The final cut goes through the same groups (``DependencyGraph.get_pruning_group(...).prune()``), so
what is removed is exactly what was chosen, not what another criterion would choose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from pydantic import Field
from torch import nn

from torchslim.backends.brevitas import require_float
from torchslim.backends.torch_pruning import dependency_groups, is_output_pruning
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodContext
from torchslim.prune.targets import ChannelTargetConfig, protected_layers


@dataclass
class Member:
    """One layer's share of a channel group: its rows (``idxs``) and the group channels they are (``roots``)."""

    module: nn.Module
    idxs: torch.Tensor
    roots: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        return [p for p in (self.module.weight, getattr(self.module, "bias", None)) if p is not None]


@dataclass
class ChannelGroup:
    name: str  # the root layer's name
    root: nn.Module
    root_fn: object
    width: int
    members: list[Member] = field(default_factory=list)

    def norms(self) -> torch.Tensor:
        """L2 norm per group channel of every trainable producing filter (plus its bias)."""
        sq = torch.zeros(self.width)
        for m in self.members:
            if m.module.weight.requires_grad:
                for p in m.tensors():
                    rows = p.detach()[m.idxs].reshape(len(m.idxs), -1).float()
                    sq.index_add_(0, m.roots, rows.pow(2).sum(1))
        return sq.sqrt()

    def choose(self, ratio: float) -> torch.Tensor:
        """The ``int(ratio * width)`` channels of lowest norm (group channel indices, sorted)."""
        n = min(int(ratio * self.width), self.width - 1)
        if n <= 0:
            return torch.empty(0, dtype=torch.long)
        return torch.sort(torch.argsort(self.norms(), stable=True)[:n]).values

    def rows(self, chosen: torch.Tensor):
        """(member, its rows for the chosen group channels) of every trainable member."""
        mask = torch.zeros(self.width, dtype=torch.bool)
        mask[chosen] = True
        for m in self.members:
            if m.module.weight.requires_grad:
                yield m, m.idxs[mask[m.roots]]


@dataclass
class FilterGroups:
    """The dependency groups of ``model`` whose channels can be chosen (protected layers' are not)."""

    model: nn.Module
    graph: object
    groups: list[ChannelGroup]

    @classmethod
    def of(cls, model: nn.Module, example: torch.Tensor, ignored: list[nn.Module], where=None) -> FilterGroups:
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
                if is_output_pruning(dep) and not any(r is None for r in roots):
                    chosen.members.append(
                        Member(dep.target.module, torch.as_tensor(list(idxs)), torch.as_tensor(list(roots)))
                    )
            if any(m.module.weight.requires_grad for m in chosen.members):
                out.append(chosen)
        return cls(model, graph, out)

    def choose(self, ratio: float) -> list[torch.Tensor]:
        return [g.choose(ratio) for g in self.groups]

    @torch.no_grad()
    def zero(self, choice: list[torch.Tensor]) -> None:
        """Zero the chosen channels' filters (and biases) in every trainable producer of their group."""
        for g, chosen in zip(self.groups, choice):
            for m, rows in g.rows(chosen):
                for p in m.tensors():
                    p[rows] = 0

    def penalty(self, choice: list[torch.Tensor]) -> torch.Tensor:
        """Sum of squares of the chosen channels' trainable weights (differentiable)."""
        total = torch.zeros(())
        for g, chosen in zip(self.groups, choice):
            for m, rows in g.rows(chosen):
                for p in m.tensors():
                    total = total + p[rows].pow(2).sum()
        return total

    def cut(self, choice: list[torch.Tensor]) -> None:
        """Remove the chosen channels structurally from every layer of their groups."""
        for g, chosen in zip(self.groups, choice):
            if len(chosen):
                self.graph.get_pruning_group(g.root, g.root_fn, chosen.tolist()).prune()


def ratio_for_macs(
    model: nn.Module, example: torch.Tensor, ignored_names: list[str], target: float, where=None
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
        groups = FilterGroups.of(trial, example, [named[n] for n in ignored_names], where)
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
    protected = protected_layers(model, cfg.protect, ctx.spec.num_classes, example)
    names = {id(m): n for n, m in model.named_modules()}
    ratio = (
        cfg.ratio
        if cfg.ratio is not None
        else ratio_for_macs(model, example, [names[id(m)] for m in protected], cfg.macs_target)
    )
    ctx.notes["channel_ratio"] = ratio
    return FilterGroups.of(model, example, protected), ratio


def finish(model: nn.Module, groups: FilterGroups, ratio: float, ctx: MethodContext) -> nn.Module:
    """Cut the channels the criterion chooses now (the ones trained towards zero) and record it."""
    before = count_flops(model, ctx.spec.shape)
    choice = groups.choose(ratio)
    norms = [float(g.norms()[c].max()) for g, c in zip(groups.groups, choice) if len(c)]
    ctx.notes["cut_filter_norm_max"] = max(norms, default=0.0)
    groups.cut(choice)
    ctx.notes["macs_kept"] = count_flops(model, ctx.spec.shape) / before
    return model.eval()
