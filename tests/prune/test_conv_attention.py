"""Convolutional attention (``prune.conv_attention``): traced as one unit, its heads cut by the unit itself."""

import pytest
import torch

from torchslim.export.architecture import apply_architecture, architecture
from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec
from torchslim.prune.conv_attention import conv_attentions, sizes, unit_sizes


def efficientvit():  # LiteMLA: whole heads, q, k, v of each head side by side, one extra scale
    from timm.models.efficientvit_mit import EfficientVit

    return EfficientVit(widths=(8, 16, 32, 64), depths=(1, 1, 1, 1), head_dim=8, head_widths=(64, 80), num_classes=10)


def visformer():  # whole heads, all queries, then all keys, then all values
    from timm.models.visformer import Visformer

    return Visformer(
        img_size=64, patch_size=16, init_channels=8, embed_dim=48, depth=(1, 1, 1), num_heads=4, group=4,
        attn_stage="011", spatial_conv="100", norm_layer=torch.nn.BatchNorm2d, num_classes=10,
    )  # fmt: skip


def efficientformer_v2():  # talking heads stay whole: every head keeps half its key and value widths
    from timm.models.efficientformer_v2 import EfficientFormerV2

    return EfficientFormerV2(
        depths=(1, 1, 2, 2), embed_dims=(16, 32, 48, 64), img_size=64, num_vit=2, mlp_ratios=2, num_classes=10,
        distillation=False,
    )  # fmt: skip


CASES = {
    "efficientvit": (efficientvit, 32),
    "visformer": (visformer, 64),
    "efficientformer-v2": (efficientformer_v2, 64),
}


def build(name):
    torch.manual_seed(0)
    return CASES[name][0]().eval()


@pytest.mark.parametrize("depthwise", ["auto", "all"])
@pytest.mark.parametrize("name", CASES)
def test_each_attention_keeps_half_its_heads_or_head_widths_and_the_model_reloads(name, depthwise, make_ctx):
    spec = InputSpec(10, 3, CASES[name][1])
    model = build(name)
    before_sizes = unit_sizes(model)
    assert before_sizes and all(min(s) >= 2 for s in before_sizes.values()), before_sizes
    before = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0, "depthwise": depthwise}})
    pruned = apply_chain(model, chain, ctx).eval()
    assert not {"protected", "unscored", "parts"} & set(ctx.notes), ctx.notes
    assert count_flops(pruned, spec.shape) <= 0.6 * before
    modules = dict(pruned.named_modules())
    for unit, size in before_sizes.items():
        halved = [round(n / 2) for n in size]
        assert list(sizes(modules[unit])) == halved == ctx.notes["attention_units"][unit], unit
    x = torch.randn(2, *spec.shape)
    out = pruned(x)
    assert out.shape == (2, 10)
    fresh = build(name)
    state = pruned.state_dict()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), out)


def test_a_protected_unit_keeps_its_heads(make_ctx):
    model = build("visformer")
    name, size = next(iter(unit_sizes(model).items()))
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0, "protect": [f"{name}.qkv"]}})
    pruned = apply_chain(model, chain, make_ctx(InputSpec(10, 3, 64))).eval()
    assert sizes(dict(pruned.named_modules())[name]) == size
    assert pruned(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_a_patch_embedding_with_a_conv_proj_is_not_an_attention():
    from timm.layers import PatchEmbed

    assert conv_attentions(PatchEmbed(img_size=32, patch_size=4, embed_dim=16)) == {}


def test_a_conv_attention_whose_convs_sit_inside_wrappers_is_one_unit_and_its_widths_are_cut(make_ctx):
    """Issue 37: LeViT-conv's attention names its 1x1 conv ``linear`` inside a conv-norm block, and its
    projection is an activation then that block; the rule read only ``conv`` children, the whole graph did
    not trace in time, and part by part only the MLPs were cut (levit_conv_512d kept 0.76 of its MACs,
    now 0.42). Its downsampling attention reads its input with ``kv``."""
    from timm.models.levit import LevitDistilled

    def make():
        torch.manual_seed(0)
        return LevitDistilled(
            img_size=64, embed_dim=(32, 48), key_dim=8, num_heads=(2, 3), depth=(1, 1), use_conv=True,
            num_classes=10,
        ).eval()  # fmt: skip

    spec = InputSpec(10, 3, 64)
    model = make()
    units = {type(m).__name__ for m in conv_attentions(model)}
    assert units == {"Attention", "AttentionDownsample"}, units
    before = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert not {"protected", "unscored", "parts"} & set(ctx.notes), ctx.notes
    assert count_flops(pruned, spec.shape) <= 0.6 * before
    x = torch.randn(2, *spec.shape)
    fresh = make()
    state = pruned.state_dict()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), pruned(x))
