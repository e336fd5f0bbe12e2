"""EfficientViT's linear attention (``prune.linear_attention``): whole heads, cut by the unit itself."""

import pytest
import torch

from torchslim.export.architecture import apply_architecture, architecture
from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec
from torchslim.prune.linear_attention import head_count, lite_mla_heads

SPEC = InputSpec(10, 3, 32)


def tiny_efficientvit():
    from timm.models.efficientvit_mit import EfficientVit

    torch.manual_seed(0)
    return EfficientVit(widths=(8, 16, 32, 64), depths=(1, 1, 1, 1), head_dim=8, head_widths=(64, 80), num_classes=10)


@pytest.mark.parametrize("depthwise", ["auto", "all"])
def test_each_linear_attention_keeps_half_its_heads_and_the_model_reloads(depthwise, make_ctx):
    model = tiny_efficientvit().eval()
    heads = lite_mla_heads(model)
    assert heads and all(h >= 4 for h in heads.values()), heads
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0, "depthwise": depthwise}})
    pruned = apply_chain(model, chain, ctx).eval()
    assert "protected" not in ctx.notes and "unscored" not in ctx.notes, ctx.notes
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    modules = dict(pruned.named_modules())
    for name, h in heads.items():
        unit = modules[name]
        assert head_count(unit) == h // 2 == ctx.notes["lite_mla_heads"][name]
        assert unit.proj.conv.in_channels == (1 + len(unit.aggreg)) * unit.dim * h // 2
    x = torch.randn(2, *SPEC.shape)
    out = pruned(x)
    assert out.shape == (2, 10)
    fresh = tiny_efficientvit().eval()
    state = pruned.state_dict()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), out)


def test_a_protected_unit_keeps_its_heads(make_ctx):
    model = tiny_efficientvit().eval()
    name, h = next(iter(lite_mla_heads(model).items()))
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0, "protect": [f"{name}.qkv.conv"]}})
    pruned = apply_chain(model, chain, make_ctx(SPEC)).eval()
    assert head_count(dict(pruned.named_modules())[name]) == h
    assert pruned(torch.randn(2, *SPEC.shape)).shape == (2, 10)
