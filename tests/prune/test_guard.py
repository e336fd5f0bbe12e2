"""Guarded pruning: a part that cannot be cut is protected and named; tracing uses the smallest input."""

import pytest
import torch
from torch import nn

from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec
from torchslim.prune.guard import trace_side


class FixedSplit(nn.Module):
    """A cross-stage-partial block that splits its channels at a hard-coded index: cutting the stem's
    channels, as the dependency graph says it may, breaks the split (the 'a' branch gets 0 channels)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.fuse = nn.Conv2d(16, 32, 1)
        self.b = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        left, right = x[:, :8], x[:, 8:]
        x = torch.relu(self.fuse(torch.cat([left, self.a(right)], 1)))
        return self.head(torch.relu(self.b(x)).mean((2, 3)))


def test_a_part_that_cannot_be_cut_is_protected_and_the_record_names_it(make_ctx):
    spec = InputSpec(10, 3, 32)
    model = FixedSplit().eval()
    before = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx)
    assert pruned(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert ctx.notes["protected"] == ["a"]
    assert pruned.a.out_channels == 8 and pruned.b.out_channels == 16  # the rest is still cut
    assert count_flops(pruned, spec.shape) < 0.5 * before
    # less than asked is said, not silent
    assert ctx.notes["cut"]["asked"] == 0.5 and ctx.notes["cut"]["channels_removed"] < 0.4
    assert "kept whole: a" in ctx.notes["cut_warning"]


class FixedInput(nn.Module):
    """A model that only takes its native size (like a ViT's position embeddings)."""

    def __init__(self, side: int):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, stride=4)
        self.fc = nn.Linear(8 * (side // 4) ** 2, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


@pytest.mark.parametrize(
    "model, native, expected",
    [(FixedSplit(), 224, 32), (FixedInput(96), 96, 96), (FixedSplit(), 28, 28)],
    ids=["any-size", "fixed-size", "native-below-32"],
)
def test_the_trace_input_is_the_smallest_the_model_accepts(model, native, expected):
    assert trace_side(model, (3, native, native), 10) == expected


def test_a_model_too_large_for_memory_is_refused_up_front_in_one_line(monkeypatch, make_ctx):
    from torchslim.errors import TorchslimError
    from torchslim.prune import guard

    monkeypatch.setattr(guard, "available_gib", lambda: 0.5)
    with pytest.raises(TorchslimError, match=r"needs about 1 GiB to prune and 0 GiB is available"):
        apply_chain(FixedSplit(), Chain.parse({"prune.structured": {"ratio": 0.5}}), make_ctx(InputSpec(10, 3, 32)))


@pytest.mark.parametrize("rule, project_out", [("auto", 24), ("all", 12)])
def test_depthwise_networks_cut_their_hidden_widths_and_keep_residual_ones_by_default(rule, project_out, make_ctx):
    from torchslim.models import build_model

    spec = InputSpec(10, 3, 32)
    torch.manual_seed(0)
    model = build_model("torchvision:mobilenet_v2", spec).eval()
    params = {"ratio": 0.5, "finetune_epochs": 0, "depthwise": rule}
    pruned = apply_chain(model, Chain.parse({"prune.structured": params}), make_ctx(spec))
    block = pruned.features[2].conv  # expansion 1x1 -> depthwise 3x3 -> projection 1x1 (residual width 24)
    assert block[0][0].out_channels == 48 and block[1][0].groups == 48  # hidden 96 halved
    assert block[2].out_channels == project_out


def test_a_dependency_search_that_does_not_end_is_cut_short():
    import time

    from torchslim.prune.guard import TraceTimeout, time_limit

    start = time.perf_counter()
    with pytest.raises(TraceTimeout, match="more than 0.2 s"):
        with time_limit(0.2):
            while True:  # Torch-Pruning's group fixing on ReXNet never ended
                pass
    assert time.perf_counter() - start < 2


class FakeGroup(list):
    """A Torch-Pruning group as the guard sees it: a root layer and a cut."""

    def __init__(self, module: nn.Module, cut):
        from collections import namedtuple

        target = type("Target", (), {"module": module, "name": "?"})
        dep = type("Dep", (), {"target": target, "pruning_fn": None})
        super().__init__([namedtuple("GroupItem", "dep idxs")(dep, [])])
        self.prune = cut


class IgnoresProtection:
    """A pruner that forms the same groups whatever is protected (as Torch-Pruning does for a layer it
    reaches through another root, e.g. a MetaFormer's token-mixer projection)."""

    def __init__(self, model: nn.Sequential, log: list):
        self.model, self.log = model, log

    def step(self, interactive: bool):
        m = self.model
        yield FakeGroup(m[0], lambda: m.__setitem__(0, nn.Linear(4, 5)))  # breaks the next layer
        yield FakeGroup(m[2], lambda: self.log.append("2"))


def test_a_group_whose_protection_is_ignored_is_left_whole_instead_of_failing_the_model():
    from torchslim.prune.guard import guarded_step

    log: list = []
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    protected: list = []
    pruned, _ = guarded_step(
        model, IgnoresProtection(model, log), lambda m, p: IgnoresProtection(m, log), protected, torch.zeros(1, 4)
    )
    assert pruned[0].out_features == 8 and pruned(torch.zeros(2, 4)).shape == (2, 3)
    assert protected == ["0"] and log[-1] == "2"  # the other group is still cut


class GainConv(nn.Conv2d):
    """A convolution with a per-output-channel parameter of its own, as timm's ScaledStdConv2d has."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))

    def forward(self, x):
        return self._conv_forward(x, self.weight * self.gain, self.bias)


def test_a_conv_with_its_own_per_channel_parameter_is_cut_with_it_not_protected(make_ctx):
    spec = InputSpec(10, 3, 16)
    model = nn.Sequential(
        GainConv(3, 16, 3, padding=1), nn.ReLU(), GainConv(16, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).eval()  # fmt: skip
    ctx = make_ctx(spec)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx)
    assert "protected" not in ctx.notes
    assert [pruned[0].out_channels, pruned[2].out_channels] == [8, 16]
    assert pruned[0].gain.shape == (8, 1, 1, 1) and pruned(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
