"""CIFAR ResNets (He et al. 2016, section 4.2): depth 6n+2 with 16/32/64 channels, and ResNet-18.

Shortcut choice: option B (a 1x1 convolution plus batch norm where the shape changes, identity
elsewhere). Option A's zero-padded identity adds no parameters but couples channels through a
padding op that structural pruners and ONNX handle poorly; option B adds ~0.01 M parameters to
ResNet-20 (0.27 M -> 0.27 M) and is what pruning benchmarks such as Torch-Pruning's use.

``zero_init_residual`` (default on) starts every block's last batch-norm scale at zero, so each
block begins as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD"); it speeds up
short schedules, as torchvision's ResNets offer.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(
        self, spec: InputSpec, blocks: tuple[int, ...], widths: tuple[int, ...], zero_init_residual: bool = True
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(spec.in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        layers, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(n):
                stage.append(BasicBlock(cin, w, stride if j == 0 else 1))
                cin = w
            layers.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, spec.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _register_depth(depth: int) -> None:
    n = (depth - 2) // 6

    def build(spec: InputSpec, **kw) -> nn.Module:
        return CifarResNet(spec, (n, n, n), (16, 32, 64), **kw)

    build.__doc__ = f"CIFAR ResNet-{depth} (He et al. 2016), 3 stages x {n} basic blocks, option-B shortcuts"
    MODELS.register(f"resnet{depth}", default_dataset="cifar10")(build)


for _depth in (20, 32, 44, 56, 110):
    _register_depth(_depth)


@MODELS.register("resnet18_cifar", default_dataset="cifar10")
def resnet18_cifar(spec: InputSpec, **kw) -> nn.Module:
    """ResNet-18 for 32x32 inputs: 3x3 stem, no max-pool, 4 stages of 2 blocks (64-512 channels)."""
    return CifarResNet(spec, (2, 2, 2, 2), (64, 128, 256, 512), **kw)
