"""Per-group pruning sensitivity: prune one coupled layer group at a time, measure the accuracy drop.

A "group" is what Torch-Pruning's dependency graph prunes together: a residual stage's
convolutions, batch norms and shortcut share their output channels, so pruning one of them alone
is impossible. Each group is pruned on a fresh copy of the trained model at several ratios,
without fine-tuning, and evaluated on (a fixed subset of) the evaluation split. The number of
channels actually removed is recorded with every row: a group where nothing could be removed is
reported as "not pruned", never as robust.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from torchslim.backends.torch_pruning import DataFreeImportance, dependency_groups, make_importance
from torchslim.data import BatchLoader, DataBundle
from torchslim.data.base import ArraySplit
from torchslim.measurement.accuracy import evaluate
from torchslim.measurement.complexity import count_flops
from torchslim.prune.targets import protected_layers


class SensitivityConfig(BaseModel):
    """Ratios to try per group, the importance used to pick channels, and the evaluation subset."""

    model_config = ConfigDict(extra="forbid")

    ratios: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7], min_length=1)
    importance: DataFreeImportance = "l1"
    eval_images: int | None = Field(
        2000, gt=0, description="evaluate on a fixed random subset of N eval images (None = all)"
    )
    max_drop: float = Field(1.0, ge=0.0, description="per-group ratio suggestion: largest ratio within this drop")
    protect: list[str] = Field(default_factory=list)

    @field_validator("ratios")
    @classmethod
    def _in_range(cls, value: list[float]) -> list[float]:
        bad = [r for r in value if not 0.0 < r < 1.0]
        if bad:
            raise ValueError(f"every ratio must be in (0, 1), got {bad}")
        return sorted(set(value))


@dataclass
class SensitivityRow:
    ratio: float
    channels_removed: int
    top1: float
    drop: float
    macs_kept: float


@dataclass
class GroupSensitivity:
    root: str  # the layer that names the group (first conv/linear of the coupled set)
    layers: list[str]  # every conv/linear/norm layer whose channels change with it
    channels: int
    rows: list[SensitivityRow] = field(default_factory=list)

    def suggested_ratio(self, max_drop: float) -> float:
        """Largest tried ratio whose drop stays within ``max_drop`` and that removed something."""
        ok = [r.ratio for r in self.rows if r.drop <= max_drop and r.channels_removed > 0]
        return max(ok, default=0.0)

    @property
    def prunable(self) -> bool:
        return any(r.channels_removed > 0 for r in self.rows)


@dataclass
class SensitivityReport:
    model: str
    baseline_top1: float
    eval_images: int
    config: dict
    groups: list[GroupSensitivity]

    def suggested_ratios(self, max_drop: float | None = None) -> dict[str, float]:
        limit = self.config["max_drop"] if max_drop is None else max_drop
        return {g.root: g.suggested_ratio(limit) for g in self.groups if g.prunable}

    def as_dict(self) -> dict:
        return asdict(self)


def _layer_names(group, names: dict[nn.Module, str]) -> list[str]:
    out = []
    for item in group:
        module = item.dep.target.module
        name = names.get(module)
        if (
            name is not None
            and name not in out
            and isinstance(module, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm))
        ):
            out.append(name)
    return out


def eval_subset(data: DataBundle, n: int | None) -> ArraySplit:
    """A fixed random subset (seed 0): eval splits may be stored class by class, so a prefix is not one."""
    split = data.eval
    if n is None or n >= len(split):
        return split
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:n]
    return ArraySplit(split.images[idx], split.labels[idx])


def prune_one_group(
    model: nn.Module, root: str, ratio: float, cfg: SensitivityConfig, example, num_classes: int
) -> int:
    """Prune ``ratio`` of the channels of the group rooted at ``root`` in place; returns channels removed."""
    modules = dict(model.named_modules())
    dg, groups = dependency_groups(model, example, protected_layers(model, cfg.protect, num_classes))
    target = modules[root]
    group = next((g for g in groups if g[0].dep.target.module is target), None)
    if group is None:
        return 0
    scores = make_importance(cfg.importance)(group)
    if scores is None:
        return 0
    n = int(ratio * len(scores))
    n = min(n, len(scores) - 1)  # never remove every channel
    if n <= 0:
        return 0
    idxs = torch.argsort(scores)[:n].tolist()
    fn = group[0].dep.handler
    pruning = dg.get_pruning_group(target, fn, idxs)
    if not dg.check_pruning_group(pruning):
        return 0
    pruning.prune()
    return n


def analyze(model: nn.Module, data: DataBundle, spec, cfg: SensitivityConfig, progress=None) -> SensitivityReport:
    """Sensitivity of every prunable group of ``model`` (left unchanged) on ``data``'s eval split."""
    model = model.eval()
    example = torch.zeros(1, *spec.shape)
    split = eval_subset(data, cfg.eval_images)
    loader = BatchLoader(split, data.info, 256)
    base_top1 = evaluate(model, loader).top1
    base_macs = count_flops(model, spec.shape)
    _, groups = dependency_groups(model, example, protected_layers(model, cfg.protect, spec.num_classes))  # traces only
    names = {m: n for n, m in model.named_modules()}
    results = []
    for g in groups:
        root = names[g[0].dep.target.module]
        results.append(GroupSensitivity(root, _layer_names(g, names), len(g[0].idxs)))
    for gs in results:
        for ratio in cfg.ratios:
            trial = copy.deepcopy(model)
            removed = prune_one_group(trial, gs.root, ratio, cfg, example, spec.num_classes)
            top1 = evaluate(trial, loader).top1 if removed else base_top1
            macs = count_flops(trial, spec.shape) / base_macs if removed else 1.0
            gs.rows.append(SensitivityRow(ratio, removed, top1, base_top1 - top1, macs))
            if progress is not None:
                progress(gs.root, ratio)
    return SensitivityReport(type(model).__name__, base_top1, len(split), cfg.model_dump(), results)
