"""Structured pruning of channel-shuffle networks (torchvision ShuffleNetV2), inside the branches.

Torch-Pruning cannot trace ShuffleNetV2's channel shuffle (a view to 5-D, a transpose and a view
back): building the dependency graph of the whole model fails. The shuffle only permutes the
channels *between* blocks, so the widths that cross it stay as they are, and pruning happens where
no shuffle is involved:
- inside every block's ``branch2`` (1x1 conv -> depthwise conv -> 1x1 conv), the hidden channels:
  the last 1x1 conv keeps its outputs, so the block's output width is unchanged;
- the head: ``conv5``'s output channels together with the classifier's inputs;
- the stem: ``conv1``'s output channels, which only the first block's two branches read (no shuffle
  comes before it), together with those branches' input sides.
Each part gets its own Torch-Pruning pruner over that submodule (traced with the input it sees in
the full model), and :class:`BranchPruner` steps them together. Together these parts hold most of
ShuffleNetV2's MACs: a ratio of 0.5 removes about half (the stem matters at x0.5, where it alone
holds a fifth of them: without it that model kept 62 %).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from torchslim.prune.probing import captured_inputs


def is_channel_shuffle_net(model: nn.Module) -> bool:
    from torchvision.models.shufflenetv2 import InvertedResidual

    return any(isinstance(m, InvertedResidual) for m in model.modules())


class _Head(nn.Module):
    """conv5 -> global mean -> fc, as ShuffleNetV2.forward runs them, for tracing the head alone."""

    def __init__(self, conv5: nn.Module, fc: nn.Module):
        super().__init__()
        self.conv5, self.fc = conv5, fc

    def forward(self, x):
        return self.fc(self.conv5(x).mean([2, 3]))


class _Stem(nn.Module):
    """conv1 -> maxpool -> the first block's two branches, concatenated (the shuffle after them is left
    out: it permutes channels the stem pruner never cuts)."""

    def __init__(self, conv1: nn.Module, maxpool: nn.Module, first: nn.Module):
        super().__init__()
        self.conv1, self.maxpool, self.first = conv1, maxpool, first

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        return torch.cat((self.first.branch1(x), self.first.branch2(x)), dim=1)


class BranchPruner:
    """One Torch-Pruning pruner per branch and one for the head, stepped together."""

    def __init__(self, pruners: list):
        self.pruners = pruners

    def step(self) -> None:
        for p in self.pruners:
            p.step()


def shuffle_pruner(model: nn.Module, example: torch.Tensor, make: Callable[..., object]) -> BranchPruner:
    """``make(module, example_input, ignored_layers)`` builds a Torch-Pruning pruner for one part."""
    from torchvision.models.shufflenetv2 import InvertedResidual

    branches = [m.branch2 for m in model.modules() if isinstance(m, InvertedResidual)]
    head = _Head(model.conv5, model.fc)
    seen = captured_inputs(model, example)
    pruners = []
    for branch in branches:
        last_conv = [m for m in branch.modules() if isinstance(m, nn.Conv2d)][-1]
        pruners.append(make(branch, seen[id(branch)][:1], [last_conv]))
    pruners.append(make(head, seen[id(model.conv5)][:1], [model.fc]))
    first = model.stage2[0]
    if len(first.branch1) > 0:  # a stride-2 block reads the stem with both branches
        stem = _Stem(model.conv1, model.maxpool, first)
        # every out width but conv1's is kept here: the branches' own widths belong to their pruners
        keep = [m for m in (*first.branch1.modules(), *first.branch2.modules()) if isinstance(m, nn.Conv2d)]
        pruners.insert(0, make(stem, seen[id(model.conv1)][:1], [m for m in keep if m.groups == 1]))
    return BranchPruner(pruners)
