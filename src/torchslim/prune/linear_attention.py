"""EfficientViT's multi-scale linear attention (timm's ``LiteMLA``): whole heads, cut by the unit itself.

LiteMLA's 1x1 ``qkv`` conv writes, head after head, a block of q, k and v (``dim`` channels each);
depthwise and grouped convs (``aggreg``) add one more scale of the same blocks; the forward reshapes
the concatenation into heads and the attention output back into ``proj``'s input, scale after scale.
Torch-Pruning followed those channels through the reshape and the chunk into q, k and v, its index
mapping went out of range (index 792 of 192), and the groups were left unscored: efficientvit_b0 kept
0.60 of its MACs at ratio 0.5. The unit is traced as one (``backends.torch_pruning.lite_mla_pruners``
cuts the residual width it reads and writes), and :func:`cut_heads` removes its weakest heads (L1 norm
of their q, k, v weights, whatever the step's criterion) from every layer that carries them.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.backends.torch_pruning import is_lite_mla


def head_count(unit: nn.Module) -> int:
    return unit.qkv.conv.out_channels // (3 * unit.dim)


def lite_mla_heads(model: nn.Module, protect: list[str] = ()) -> dict[str, int]:
    """Every LiteMLA unit of ``model`` not named (nor its parts) in ``protect``, with its head count."""
    return {
        n: head_count(m)
        for n, m in model.named_modules()
        if is_lite_mla(m) and not any(p == n or p.startswith(n + ".") for p in protect)
    }


def cut_all(model: nn.Module, original: dict[str, int], kept: float) -> dict[str, int]:
    """Cut each unit named in ``original`` (its head count before any step) to ``kept`` of its heads
    (at least one); returns the head counts now."""
    modules = dict(model.named_modules())
    now = {}
    for name, heads in original.items():
        unit = modules[name]
        target = max(1, round(heads * kept))
        if head_count(unit) > target:
            cut_heads(unit, target)
        now[name] = head_count(unit)
    return now


def cut_heads(unit: nn.Module, keep: int) -> None:
    """Keep the ``keep`` heads of ``unit`` whose q, k and v weights have the largest L1 norm."""
    dim, heads = unit.dim, head_count(unit)
    qkv = unit.qkv.conv
    norms = qkv.weight.detach().abs().reshape(heads, -1).sum(1)
    kept = sorted(torch.topk(norms, keep).indices.tolist())
    blocks = [c for h in kept for c in range(h * 3 * dim, (h + 1) * 3 * dim)]  # q, k, v of each kept head
    _keep_out(qkv, blocks)
    if isinstance(unit.qkv.norm, nn.BatchNorm2d):
        _keep_norm(unit.qkv.norm, blocks)
    for seq in unit.aggreg:
        for conv in seq:
            _keep_out(conv, blocks, grouped_input=True)
    scales = 1 + len(unit.aggreg)
    columns = [(s * heads + h) * dim + d for s in range(scales) for h in kept for d in range(dim)]
    proj = unit.proj.conv
    proj.weight = nn.Parameter(proj.weight.detach()[:, columns].clone())
    proj.in_channels = len(columns)


def _keep_out(conv: nn.Conv2d, channels: list[int], grouped_input: bool = False) -> None:
    """Keep the output ``channels`` of ``conv``; for a grouped conv whose groups are whole heads' blocks,
    its input keeps the same channels (the weight's input slice per group is unchanged)."""
    conv.weight = nn.Parameter(conv.weight.detach()[channels].clone())
    if conv.bias is not None:
        conv.bias = nn.Parameter(conv.bias.detach()[channels].clone())
    if grouped_input:
        per_group = conv.out_channels // conv.groups
        conv.groups = len(channels) // per_group
        conv.in_channels = len(channels)
    conv.out_channels = len(channels)


def _keep_norm(norm: nn.BatchNorm2d, channels: list[int]) -> None:
    for name in ("weight", "bias"):
        p = getattr(norm, name)
        if p is not None:
            setattr(norm, name, nn.Parameter(p.detach()[channels].clone()))
    for name in ("running_mean", "running_var"):
        if getattr(norm, name) is not None:
            setattr(norm, name, getattr(norm, name)[channels].clone())
    norm.num_features = len(channels)
