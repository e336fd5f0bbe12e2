"""C2f / C3k2 with the channel ``chunk`` replaced by two convolutions.

Ultralytics' C2f runs one 1x1 conv to 2c channels and splits the result with ``chunk(2)``.
Torch-Pruning cannot see through that split: removing channels from the first half would shift the
second. Two convolutions of c channels each compute exactly the same thing, and each can be pruned
on its own. The class lives here, at a stable import path, so a saved pruned model always rebuilds.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# Attributes Ultralytics' parse_model puts on every layer of DetectionModel.model and reads in forward.
_LAYER_ATTRS = ("i", "f", "type", "np")


class SplitC2f(nn.Module):
    """y0 = cv0(x), y1 = cv1(x), then each block of ``m`` feeds on the last output; cv2 fuses them all."""

    def __init__(self, cv0: nn.Module, cv1: nn.Module, m: nn.ModuleList, cv2: nn.Module):
        super().__init__()
        self.cv0, self.cv1, self.m, self.cv2 = cv0, cv1, m, cv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv0(x), self.cv1(x)]
        y.extend(block(y[-1]) for block in self.m)
        return self.cv2(torch.cat(y, 1))


def _half(conv_block: nn.Module, part: slice) -> nn.Module:
    """A copy of an Ultralytics Conv (conv + BN + act) that keeps only the output channels ``part``."""
    out = copy.deepcopy(conv_block)
    conv, bn = out.conv, out.bn
    conv.weight = nn.Parameter(conv.weight.detach()[part].clone())
    if conv.bias is not None:
        conv.bias = nn.Parameter(conv.bias.detach()[part].clone())
    conv.out_channels = conv.weight.shape[0]
    for name in ("weight", "bias"):
        setattr(bn, name, nn.Parameter(getattr(bn, name).detach()[part].clone()))
    bn.running_mean = bn.running_mean[part].clone()
    bn.running_var = bn.running_var[part].clone()
    bn.num_features = conv.out_channels
    return out


def split_c2f(model: nn.Module) -> int:
    """Replace every C2f (C3k2 included) in ``model`` by an equivalent SplitC2f; returns how many."""
    from ultralytics.nn.modules.block import C2f

    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, C2f) and type(child).forward is C2f.forward:  # not C2fAttn (guided)
                c = child.c
                new = SplitC2f(_half(child.cv1, slice(0, c)), _half(child.cv1, slice(c, 2 * c)), child.m, child.cv2)
                for attr in _LAYER_ATTRS:
                    if hasattr(child, attr):
                        setattr(new, attr, getattr(child, attr))
                new.train(child.training)
                setattr(parent, name, new)
                replaced += 1
    return replaced
