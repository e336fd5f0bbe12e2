"""ShuffleNetV2: pruned inside its branches, so the channel shuffle between blocks never changes."""

import pytest
import torch

from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec, build_model


@pytest.fixture
def shufflenet():
    torch.manual_seed(0)
    return build_model("torchvision:shufflenet_v2_x1_0", InputSpec(10, 3, 64)).eval()


def block_widths(model):
    from torchvision.models.shufflenetv2 import InvertedResidual

    x, widths = torch.zeros(1, 3, 64, 64), []
    hooks = [
        m.register_forward_hook(lambda mod, i, o: widths.append(o.shape[1]))
        for m in model.modules()
        if isinstance(m, InvertedResidual)
    ]
    model(x)
    for h in hooks:
        h.remove()
    return widths


def test_half_ratio_prunes_branches_and_head(shufflenet, make_ctx):
    spec = InputSpec(10, 3, 64)
    before, widths = count_flops(shufflenet, spec.shape), block_widths(shufflenet)
    hidden = shufflenet.stage3[1].branch2[0].out_channels
    model = apply_chain(
        shufflenet, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), make_ctx(spec)
    ).eval()
    assert 1 - count_flops(model, spec.shape) / before >= 0.40
    assert block_widths(model) == widths  # what crosses the shuffle is untouched
    assert model.stage3[1].branch2[0].out_channels == hidden // 2
    assert model.conv5[0].out_channels == 512 and model.fc.in_features == 512
    assert model.conv1[0].out_channels == 12  # the stem: only the first block's branches read it
    assert model(torch.randn(2, *spec.shape)).shape == (2, 10)


def test_per_layer_ratios_are_refused_clearly(shufflenet, make_ctx):
    from torchslim.errors import TorchslimError

    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "global_pruning": True, "finetune_epochs": 0}})
    with pytest.raises(TorchslimError, match="branch by branch"):
        apply_chain(shufflenet, chain, make_ctx(InputSpec(10, 3, 64)))
