"""CIFAR ResNets (He et al. 2016, section 4.2): depth 6n+2 with 16/32/64 channels, and ResNet-18.

Shortcut choice: option B by default (a 1x1 convolution plus batch norm where the shape changes,
identity elsewhere), what pruning benchmarks such as Torch-Pruning's use. ``shortcut="A"`` builds
the paper's option A, which the published CIFAR checkpoints use (akamaster's ResNet-20..56): a
parameter-free subsampling with zero channels padded on both sides. It is written as a fixed 1x1
stride-2 convolution that copies input channel c to output channel c + pad (:class:`ZeroPadShortcut`)
rather than as ``F.pad``: the same numbers, but a layer that Torch-Pruning's dependency graph, ONNX
and every runtime already understand, so pruning cuts the residual stream through it like any other
layer. Its weight never trains (the forward detaches it). It costs a little MAC count that option A
does not have: 0.26 M of ResNet-20's 41 M.

``zero_init_residual`` (default on) starts every block's last batch-norm scale at zero, so each
block begins as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD"); it speeds up
short schedules, as torchvision's ResNets offer.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from torchslim.models.base import MODELS, InputSpec


class ZeroPadShortcut(nn.Conv2d):
    """Option A's shortcut as a fixed 0/1 convolution: subsample by ``stride``, copy input channel c
    to output channel c + (cout - cin) // 2, zeros elsewhere. A pruned copy keeps the rows and
    columns it was given, so it still copies each kept channel or yields zeros."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__(cin, cout, 1, stride, bias=False)
        self.weight.requires_grad_(False)
        with torch.no_grad():
            self.weight.zero_()
            pad = (cout - cin) // 2
            for c in range(cin):
                self.weight[c + pad, c] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.detach(), None, self.stride)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, shortcut: str = "B"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if (stride != 1 or cin != cout) and shortcut == "A":
            self.shortcut = nn.Sequential(ZeroPadShortcut(cin, cout, stride))
        elif stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(
        self,
        spec: InputSpec,
        blocks: tuple[int, ...],
        widths: tuple[int, ...],
        zero_init_residual: bool = True,
        shortcut: Literal["A", "B"] = "B",
    ):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut '{shortcut}': choose A (zero-padded identity) or B (1x1 conv + BN)")
        if shortcut == "A" and any(w < widths[0] or (w - widths[0]) % 2 for w in widths):
            raise ValueError("option A pads channels on both sides: each stage needs an even number more channels")
        self.conv1 = nn.Conv2d(spec.in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        layers, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(n):
                stage.append(BasicBlock(cin, w, stride if j == 0 else 1, shortcut))
                cin = w
            layers.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, spec.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and not isinstance(m, ZeroPadShortcut):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def adapt_state_dict(self, sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Published CIFAR-ResNet checkpoints (akamaster's layout: ``layer1.0.conv1``, ``linear``) in
        this model's names; option A's fixed shortcut weights, absent from such files, are this model's
        own. A file already in torchslim's names passes unchanged."""
        if not any(k.startswith(("layer1.", "linear.")) for k in sd):
            return sd, []
        out = {}
        for key, value in sd.items():
            if key.startswith("layer"):
                stage, rest = key[len("layer") :].split(".", 1)
                key = f"layers.{int(stage) - 1}.{rest}"
            elif key.startswith("linear."):
                key = "fc." + key[len("linear.") :]
            out[key] = value
        own = self.state_dict()
        fixed = [k for k, m in self.named_modules() if isinstance(m, ZeroPadShortcut)]
        for name in fixed:
            out.setdefault(f"{name}.weight", own[f"{name}.weight"])
        return out, [f"renamed from the layer1/linear layout; {len(fixed)} option-A shortcut(s) kept as fixed copies"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _register_depth(depth: int) -> None:
    n = (depth - 2) // 6

    def build(spec: InputSpec, **kw) -> nn.Module:
        return CifarResNet(spec, (n, n, n), (16, 32, 64), **kw)

    build.__doc__ = (
        f"CIFAR ResNet-{depth} (He et al. 2016), 3 stages x {n} basic blocks, option-B shortcuts "
        "(kwargs shortcut: A for the paper's zero-padded ones, as published checkpoints have)"
    )
    MODELS.register(f"resnet{depth}", default_dataset="cifar10")(build)


for _depth in (20, 32, 44, 56, 110):
    _register_depth(_depth)


@MODELS.register("resnet18_cifar", default_dataset="cifar10")
def resnet18_cifar(spec: InputSpec, **kw) -> nn.Module:
    """ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool, 4 stages of 2 blocks (64-512 channels)."""
    return CifarResNet(spec, (2, 2, 2, 2), (64, 128, 256, 512), **kw)
