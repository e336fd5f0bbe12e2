"""Windowed and tied attention (``prune.transformers``): cut with the residual width they read and write."""

from functools import partial

import pytest
import torch
from torch import nn

from torchslim.export.architecture import apply_architecture, architecture
from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec
from torchslim.prune.transformers import attention_heads, spatial_gates, tied_attention_heads, tied_attentions

SPEC = InputSpec(10, 3, 32)


def timm_swin():
    from timm.models.swin_transformer import SwinTransformer

    return SwinTransformer(
        img_size=32, patch_size=2, window_size=4, embed_dim=32, depths=(1, 1), num_heads=(2, 4), num_classes=10
    )


def torchvision_swin(v2: bool = False):
    from torchvision.models import swin_transformer as tvs

    extra = dict(block=tvs.SwinTransformerBlockV2, downsample_layer=tvs.PatchMergingV2) if v2 else {}
    return tvs.SwinTransformer(
        patch_size=[2, 2], embed_dim=32, depths=[1, 1], num_heads=[2, 4], window_size=[4, 4], num_classes=10, **extra
    )


def timm_xcit():
    from timm.models.xcit import Xcit

    return Xcit(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, cls_attn_layers=1, num_classes=10)


def timm_nest():
    from timm.models.nest import Nest

    return Nest(
        img_size=32, patch_size=4, num_levels=2, embed_dims=(32, 64), num_heads=(2, 4), depths=(1, 1), num_classes=10
    )


def timm_caformer():
    from timm.models.metaformer import Attention, LayerNorm2dNoBias, LayerNormNoBias, MetaFormer, SepConv

    return MetaFormer(
        depths=(1, 1, 1, 1),
        dims=(16, 32, 64, 64),
        token_mixers=(SepConv, SepConv, Attention, Attention),
        norm_layers=[LayerNorm2dNoBias] * 2 + [LayerNormNoBias] * 2,
        res_scale_init_values=(None, None, 1.0, 1.0),
        num_classes=10,
    )


def timm_maxvit():
    from timm.models.maxxvit import MaxxVit, MaxxVitCfg, MaxxVitConvCfg, MaxxVitTransformerCfg

    cfg = MaxxVitCfg(
        embed_dim=(32, 64),
        depths=(1, 1),
        block_type=("M", "M"),
        stem_width=16,
        conv_cfg=MaxxVitConvCfg(block_type="mbconv", expand_ratio=2.0, pre_norm_act=True, stride_mode="dw"),
        transformer_cfg=MaxxVitTransformerCfg(dim_head=16, partition_ratio=16),
    )
    return MaxxVit(cfg, img_size=32, num_classes=10)


def timm_gcvit():
    from timm.models.gcvit import GlobalContextVit

    return GlobalContextVit(
        img_size=32, depths=(2, 2), num_heads=(2, 4), embed_dim=32, window_ratio=(8, 8), num_classes=10
    )


def timm_coat():
    from timm.models.coat import CoaT

    return CoaT(
        img_size=32,
        patch_size=4,
        embed_dims=(16, 32, 32, 64),
        serial_depths=(1, 1, 1, 1),
        num_heads=4,
        mlp_ratios=(2, 2, 2, 2),
        crpe_window={3: 2, 5: 2},
        num_classes=10,
    )


def timm_convit():
    from timm.models.convit import ConVit

    return ConVit(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=4, local_up_to_layer=1, num_classes=10)


MODELS = {
    "timm-swin": timm_swin,
    "torchvision-swin": torchvision_swin,
    "torchvision-swin-v2": lambda: torchvision_swin(v2=True),
    "timm-xcit": timm_xcit,
    "timm-nest": timm_nest,  # attention over 5-D token blocks: traced whole (only_gqa_expands)
    "timm-caformer": timm_caformer,  # residual scales viewed as a stored shape (sync_attributes)
    "timm-gcvit": timm_gcvit,  # every other block's query comes from outside: k and v fused (2c)
    "timm-maxvit": timm_maxvit,  # heads of a fixed width of their own: only the residual width is cut
    "timm-coat": timm_coat,  # per-head depthwise position encodings, shared by a stage's attentions
    "timm-convit": timm_convit,  # gated positional attention: q and k fused (2c), v alone (once 0.72 of MACs)
}


@pytest.mark.parametrize("name", MODELS)
def test_a_windowed_attention_model_loses_half_its_width_in_every_head(name, make_ctx):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    heads_before = {n: h for n, m in model.named_modules() if (h := tied_attention_heads(m))}
    widths_before = {n: m.proj.out_features for n, m in model.named_modules() if n in heads_before}
    assert heads_before, "the test model has no tied attention"
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    assert "protected" not in ctx.notes and "parts" not in ctx.notes, ctx.notes
    x = torch.randn(2, *SPEC.shape)
    out = pruned(x)
    assert out.shape == (2, 10)
    for n, m in pruned.named_modules():
        if n in heads_before:  # every stage cut; the head count stays, every head narrower by the same amount
            assert getattr(m, "num_heads", getattr(m, "groups", None)) == heads_before[n]
            assert m.proj.out_features % heads_before[n] == 0 and m.proj.out_features <= 0.6 * widths_before[n], n
    fresh = MODELS[name]().eval()  # how a checkpoint reloads: the original architecture, resized
    state = pruned.state_dict()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), out)


def test_plain_vit_attention_is_not_tied_and_keeps_whole_head_removal():
    from timm.models.vision_transformer import VisionTransformer

    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=4, num_classes=10)
    assert tied_attentions(vit) == {}
    assert list(attention_heads(vit).values()) == [4]


def test_a_linear_named_proj_without_attention_is_not_tied():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj, self.num_heads = nn.Linear(8, 8), 2

    assert tied_attention_heads(Block()) is None


def test_gmlp_keeps_its_token_width_and_cuts_the_gate_halves_in_pairs(make_ctx):
    from timm.layers import GatedMlp
    from timm.models.mlp_mixer import MlpMixer, SpatialGatingBlock, SpatialGatingUnit

    def make():
        torch.manual_seed(0)
        return MlpMixer(
            num_classes=10, img_size=32, patch_size=8, num_blocks=2, embed_dim=32, mlp_ratio=4,
            block_layer=SpatialGatingBlock, mlp_layer=partial(GatedMlp, gate_layer=SpatialGatingUnit),
        ).eval()  # fmt: skip

    model = make()
    gates = spatial_gates(model)
    assert [(p.in_features, fc1.out_features) for p, fc1 in gates.items()] == [(16, 128)] * 2
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "protected" not in ctx.notes, ctx.notes
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    for block in pruned.blocks:  # the token mixer keeps the 16 tokens; the halves stay equal
        mlp = block.mlp_channels
        assert mlp.gate.proj.in_features == 16
        assert mlp.fc1.out_features == 2 * mlp.gate.norm.normalized_shape[0] == 2 * mlp.fc2.in_features <= 64
    x = torch.randn(2, *SPEC.shape)
    out = pruned(x)
    state = pruned.state_dict()
    fresh = make()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), out)


def test_a_packed_glu_mlp_on_tokens_has_its_hidden_width_cut_in_pairs(make_ctx):
    """Issue 37: a ViT whose MLPs pack both GLU halves in one layer (``fc1(x).chunk(2, dim=-1)``, as EVA-02's
    SwiGLU) kept every MLP whole: Torch-Pruning maps splits on dimension 1 only, and not at all below a
    class token. The rule names no architecture: a module whose linear children read a.out == 2 * b.in."""
    from timm.layers import GluMlp
    from timm.models.vision_transformer import VisionTransformer

    from torchslim.prune.transformers import packed_gates

    def make():
        torch.manual_seed(0)
        return VisionTransformer(
            img_size=32, patch_size=8, num_classes=10, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4,
            mlp_layer=partial(GluMlp, act_layer=nn.SiLU),
        ).eval()  # fmt: skip

    model = make()
    assert [(g.out_features, g.in_features) for g in packed_gates(model)] == [(128, 32)] * 2
    before = [b.mlp.fc2.in_features for b in model.blocks]
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "unscored" not in ctx.notes, ctx.notes
    for block, hidden in zip(pruned.blocks, before):
        assert block.mlp.fc1.out_features == 2 * block.mlp.fc2.in_features <= hidden  # the halves stay paired
    assert sum(b.mlp.fc2.in_features for b in pruned.blocks) <= 0.6 * sum(before)
    x = torch.randn(2, *SPEC.shape)
    state = pruned.state_dict()
    fresh = make()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), pruned(x))


def test_a_relative_position_bias_shared_by_every_block_does_not_tie_the_residual_width(make_ctx):
    """Issue 37: an attention unit's extra input of another width (a heads x tokens x tokens bias made by
    one MLP for every block) was tied to the unit's output while tracing; the bias MLP's head count
    joined the residual group, which could not be scored, and vit_srelpos kept 0.67 of its MACs."""
    import timm

    def make():
        torch.manual_seed(0)
        return timm.create_model(
            "vit_srelpos_small_patch16_224", depth=2, embed_dim=64, num_heads=2, img_size=32, patch_size=8,
            num_classes=10,
        ).eval()  # fmt: skip

    model = make()
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "unscored" not in ctx.notes, ctx.notes
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    assert pruned.shared_rel_pos.mlp.fc2.out_features == 2  # the bias keeps one map per head
    x = torch.randn(2, *SPEC.shape)
    state = pruned.state_dict()
    fresh = make()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), pruned(x))


def test_a_rotary_attention_loses_whole_heads_and_a_latent_attention_pool_follows_the_residual(make_ctx):
    """Issue 37: a rotary embedding traced inside each head mapped channels to the wrong indices, scoring
    raised and the guard kept every ``qkv`` whole; the latent attention pool's learned query kept the old
    residual width. The Perception Encoder ViT kept 0.68 of its MACs (now about 0.25)."""
    import timm

    def make():
        torch.manual_seed(0)
        return timm.create_model(
            "vit_pe_core_tiny_patch16_384", depth=2, embed_dim=64, num_heads=4, img_size=32, patch_size=8,
            num_classes=10,
        ).eval()  # fmt: skip

    model = make()
    assert type(model.blocks[0].attn).__name__ == "AttentionRope" and model.attn_pool is not None
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "unscored" not in ctx.notes and "protected" not in ctx.notes, ctx.notes
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    for block in pruned.blocks:  # whole heads go: the head width the rotation is built for stays 16
        assert block.attn.num_heads == 2 and block.attn.qkv.out_features == 3 * 2 * 16
    assert pruned.attn_pool.latent.shape[-1] == pruned.blocks[0].attn.qkv.in_features == 32
    x = torch.randn(2, *SPEC.shape)
    state = pruned.state_dict()
    fresh = make()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), pruned(x))


#: EVA-style attentions: heads split the input width (tied) and a rotary embedding fixes the head width
ROTARY_TIED = {
    "eva02": "eva02_tiny_patch14_224",  # fused qkv with q and v biases beside a zero k bias buffer; SwiGLU MLP
    "dinov3": "vit_small_patch16_dinov3",  # register tokens, layer scale
}


@pytest.mark.parametrize("family", ROTARY_TIED)
def test_a_tied_rotary_attention_loses_whole_heads_with_head_widths_of_the_residual(family, make_ctx, tmp_path):
    """Issue 37: EVA-02, DINOv3 and the ``vit_*_rope_reg`` ViTs reshape their heads' output to their input
    width, and their rotary embedding is built for one head width: cut as other tied attentions (the same
    channels from every head), the rotation no longer fit and the guard kept every residual writer whole
    (0.67-0.73 of MACs). Now the residual loses whole head widths and each attention as many whole heads."""
    import timm

    import torchslim
    from torchslim.export.checkpoint import save_model

    def make():
        torch.manual_seed(0)
        return timm.create_model(
            ROTARY_TIED[family], img_size=32, patch_size=8, depth=2, embed_dim=64, num_heads=4, num_classes=10
        ).eval()

    model = make()
    assert all(tied_attention_heads(b.attn) == 4 for b in model.blocks), "the test model's attention is not tied"
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "protected" not in ctx.notes and "unscored" not in ctx.notes, ctx.notes
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    for block in pruned.blocks:  # 64 -> 32 wide: two whole heads of 16 go, the rotation's width stays
        assert block.attn.qkv.in_features == block.attn.proj.out_features == 32
        assert block.attn.num_heads == 2 and block.attn.head_dim == 16 and block.attn.qkv.out_features == 96
    x = torch.randn(2, *SPEC.shape)
    save_model(pruned, tmp_path / "m.pt", {"model": {"name": None}})  # EVA's k bias is not in the state dict
    assert torch.equal(torchslim.load(tmp_path / "m.pt", builder=make)(x), pruned(x))


def test_an_attention_that_names_its_head_count_heads_loses_whole_heads_and_its_output_width_follows(make_ctx):
    """Draw 893619: Hiera's mask-unit attention counts its heads in ``heads`` (not ``num_heads``) and reshapes
    their output to a stored ``dim_out``; the guard kept every ``qkv`` whole (hiera_small_abswin_256 kept
    0.69 of its MACs). It is a head attention like ViT's; ``dim_out`` follows heads x head width. Its first
    stage has one head, which Torch-Pruning removed (it cuts ceil(ratio x heads)): a single head stays."""
    from timm.models.hiera import Hiera

    spec = InputSpec(10, 3, 64)

    def make():
        torch.manual_seed(0)
        return Hiera(
            img_size=(64, 64), embed_dim=16, num_heads=1, stages=(1, 2, 1, 1), num_classes=10,
            patch_stride=(4, 4), mask_unit_size=(4, 4),
        ).eval()  # fmt: skip

    model = make()
    assert len(attention_heads(model)) == 5
    before = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    pruned = apply_chain(model, Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}), ctx).eval()
    assert "unscored" not in ctx.notes and not any(n.endswith("qkv") for n in ctx.notes.get("protected", [])), ctx.notes
    assert count_flops(pruned, spec.shape) <= 0.6 * before
    assert [b.attn.heads for b in pruned.blocks] == [1, 1, 2, 2, 4]  # of 1, 2, 2, 4, 8 (one block put back whole)
    for block in pruned.blocks:
        a = block.attn
        assert a.head_dim == 16 and a.dim_out == a.heads * 16 == a.proj.in_features == a.qkv.out_features // 3
    x = torch.randn(2, *spec.shape)
    state = pruned.state_dict()
    fresh = make()
    apply_architecture(fresh, architecture(pruned), state).load_state_dict(state)
    assert torch.equal(fresh(x), pruned(x))
