"""Published CIFAR ResNet checkpoints (option-A shortcuts) load into torchslim's ResNets exactly.

The reference below is written from the paper's and the checkpoint README's description (F.pad
shortcut, ``layerN``/``linear`` names, DataParallel's ``module.`` prefix, no BN step counters) and
shares no code with torchslim's model: equal logits mean the conversion is exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchslim.errors import CheckpointError
from torchslim.models import InputSpec, ModelConfig, build_model
from torchslim.models.resnet_cifar import ZeroPadShortcut

SPEC = InputSpec(10, 3, 32)
PRETRAINED = Path(__file__).resolve().parents[3] / "shared" / "data" / "pretrained" / "cifar10-resnet-akamaster"


class RefBlock(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if (stride != 1 or cin != planes) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class RefResNet(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin, stages = 16, []
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for j in range(n):
                blocks.append(RefBlock(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def published_file(tmp_path: Path, depth: int = 20) -> tuple[Path, RefResNet]:
    """A file in the published layout, with random weights and BN statistics (so that nothing cancels)."""
    torch.manual_seed(depth)
    ref = RefResNet((depth - 2) // 6).eval()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    sd = {f"module.{k}": v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / f"resnet{depth}-published.th"
    torch.save({"best_prec1": 91.7, "state_dict": sd}, path)
    return path, ref


@pytest.mark.parametrize("depth", [20, 32])
def test_a_published_option_a_checkpoint_gives_the_logits_of_an_independent_option_a_network(tmp_path, depth):
    path, ref = published_file(tmp_path, depth)
    notes: list[str] = []
    model = build_model(ModelConfig(name=f"resnet{depth}", kwargs={"shortcut": "A"}, checkpoint=path), SPEC, notes)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        diff = (model.eval()(x) - ref(x)).abs().max().item()
    assert diff < 1e-5
    assert notes and "2 option-A shortcut(s)" in notes[0]


def test_the_option_a_shortcut_copies_channels_and_never_trains():
    sc = ZeroPadShortcut(16, 32, 2)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    y = sc(x)
    assert torch.equal(y, F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8)))
    y.sum().backward()
    assert sc.weight.grad is None and x.grad is not None


def test_an_option_b_model_refuses_an_option_a_file_naming_the_missing_layers(tmp_path):
    path, _ = published_file(tmp_path)
    with pytest.raises(CheckpointError, match="missing .*shortcut"):
        build_model(ModelConfig(name="resnet20", checkpoint=path), SPEC)


def test_an_unknown_shortcut_option_is_one_clear_error():
    from torchslim.errors import ConfigError

    with pytest.raises(ConfigError, match="choose A .* or B"):
        build_model(ModelConfig(name="resnet20", kwargs={"shortcut": "C"}), SPEC)


@pytest.mark.skipif(not PRETRAINED.is_dir(), reason="the shared pretrained CIFAR ResNets are not beside this clone")
@pytest.mark.parametrize("depth", [20, 56])
def test_the_shared_pretrained_file_loads_exactly(depth):
    path = next(PRETRAINED.glob(f"resnet{depth}-*.th"))
    ref = RefResNet((depth - 2) // 6).eval()
    blob = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    ref.load_state_dict({k.removeprefix("module."): v for k, v in blob.items()}, strict=False)
    model = build_model(ModelConfig(name=f"resnet{depth}", kwargs={"shortcut": "A"}, checkpoint=path), SPEC).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max().item() < 1e-5
