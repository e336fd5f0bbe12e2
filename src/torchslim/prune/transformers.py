"""Vision transformers: prune whole attention heads and MLP hidden units, then resync attributes.

(Also any module whose forward reads channel counts from plain attributes, e.g. timm's MixedConv2d
``splits``: ``sync_attributes`` writes the pruned sizes back after every cut.)

Torch-Pruning removes heads when told each attention layer's head count (``num_heads``). The
modules then still carry their old sizes in plain attributes (timm's ``num_heads``/``head_dim``/
``attn_dim``, torchvision's ``VisionTransformer.hidden_dim``) that their forward uses for reshapes;
``sync_attributes`` writes the new sizes back.
"""

from __future__ import annotations

from torch import nn


def _is_timm_attention(m: nn.Module) -> bool:
    return (
        type(m).__name__ == "Attention" and isinstance(getattr(m, "qkv", None), nn.Linear) and hasattr(m, "num_heads")
    )


def attention_heads(model: nn.Module) -> dict[nn.Module, int]:
    """The layer Torch-Pruning groups heads on, with its head count: timm's qkv, torch's MHA."""
    heads: dict[nn.Module, int] = {}
    for m in model.modules():
        if _is_timm_attention(m):
            heads[m.qkv] = m.num_heads
        elif isinstance(m, nn.MultiheadAttention):
            heads[m] = m.num_heads
    return heads


def sync_attributes(model: nn.Module, pruner) -> None:
    for m in model.modules():
        if _is_timm_attention(m):
            m.num_heads = pruner.num_heads.get(m.qkv, m.num_heads)
            m.head_dim = m.qkv.out_features // (3 * m.num_heads)
            if hasattr(m, "attn_dim"):
                m.attn_dim = m.num_heads * m.head_dim
        elif isinstance(m, nn.MultiheadAttention):
            m.num_heads = pruner.num_heads.get(m, m.num_heads)
            m.embed_dim = m.out_proj.in_features
            m.head_dim = m.embed_dim // m.num_heads
            m.kdim = m.vdim = m.embed_dim
        if hasattr(m, "hidden_dim") and isinstance(getattr(m, "conv_proj", None), nn.Conv2d):
            m.hidden_dim = m.conv_proj.out_channels  # torchvision VisionTransformer
        if isinstance(m, nn.ModuleDict) and isinstance(getattr(m, "splits", None), list):
            convs = list(m.values())  # timm's MixedConv2d: input split sizes kept as a plain list
            if all(isinstance(c, nn.Conv2d) for c in convs) and len(convs) == len(m.splits):
                m.splits = [c.in_channels for c in convs]
                m.in_channels, m.out_channels = sum(m.splits), sum(c.out_channels for c in convs)
