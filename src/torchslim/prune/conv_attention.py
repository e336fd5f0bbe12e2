"""Convolutional attention (Visformer, EfficientFormerV2, EfficientViT's LiteMLA): traced as one unit,
whose heads the unit cuts itself.

These attentions make q, k and v with convolutions and reshape their channels into heads. Torch-Pruning
followed the channels through the reshapes: on LiteMLA its index mapping went out of range (index 792
of 192) and the groups were left unscored (efficientvit_b0 kept 0.60 of its MACs at ratio 0.5); on
Visformer and EfficientFormerV2 the group search cycled, tripling indices, past its time bound, and the
models were pruned part by part (0.60 and 0.71). Traced as one unit (``backends.torch_pruning.
own_width_pruners``), the unit's input and output widths are cut with the layers around it, and
:func:`cut_all` removes whole heads where the layout is known: the heads with the smallest L1 norm of
their q, k, v weights, whatever the step's criterion.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.backends.torch_pruning import cut_block, layer_of

READER_NAMES = ("qkv", "q", "k", "v", "kv")  # kv: LeViT's downsampling attention


def _conv_like(block) -> bool:
    """A convolution, or a block around exactly one (conv + norm, activation + conv + norm)."""
    return isinstance(block, nn.Module) and isinstance(layer_of(block), nn.Conv2d)


def unit_parts(m: nn.Module) -> tuple[list, list, list] | None:
    """(readers, writers, passes) of a convolutional attention, else None: the conv blocks reading its
    input (``qkv`` or ``q``, ``k``, ``v``; a local-global query's own projection), the ``proj`` writing
    its output, and the depthwise convs on its input width (a strided query or ``stride_conv``)."""
    proj = getattr(m, "proj", None)
    if not _conv_like(proj) or not any(isinstance(getattr(m, n, None), int) for n in ("num_heads", "dim")):
        return None
    readers, passes = [], []
    stride = getattr(m, "stride_conv", None)
    if stride is not None:
        if not _conv_like(stride):
            return None
        passes.append(stride)
    for name in READER_NAMES:
        block = getattr(m, name, None)
        if block is None:
            continue
        if _conv_like(block):
            readers.append(block)
        elif _conv_like(getattr(block, "proj", None)) and isinstance(getattr(block, "local", None), nn.Conv2d):
            readers.append(block.proj)  # EfficientFormerV2's local-global query: a depthwise conv, then proj
            passes.append(block.local)
        else:
            return None
    return (readers, [proj], passes) if readers else None


def conv_attentions(model: nn.Module) -> dict[nn.Module, tuple[list, list, list]]:
    return {m: parts for m in model.modules() if (parts := unit_parts(m)) is not None}


def sizes(unit: nn.Module) -> tuple[int, ...] | None:
    """What :func:`shrink` cuts in a unit whose layout it knows, else None: (heads,) where whole heads go,
    (key width, value width) per head where the heads stay."""
    heads = getattr(unit, "num_heads", None)
    qkv = getattr(unit, "qkv", None)
    qkv = qkv if qkv is None else layer_of(qkv)
    if isinstance(qkv, nn.Conv2d):
        if isinstance(getattr(unit, "aggreg", None), nn.ModuleList) and isinstance(getattr(unit, "dim", None), int):
            return (qkv.out_channels // (3 * unit.dim),)  # LiteMLA: head after head, q, k, v of `dim` each
        dim = getattr(unit, "head_dim", None)
        if isinstance(heads, int) and isinstance(dim, int) and qkv.out_channels == 3 * heads * dim:
            return (heads,)  # Visformer: q of every head, then k, then v
        return None
    if isinstance(heads, int) and all(hasattr(unit, n) for n in ("k", "v", "d", "dh")) and unit.dh == unit.d * heads:
        return (layer_of(unit.k).out_channels // heads, unit.d)  # EfficientFormerV2: talking heads stay whole
    return None


def unit_sizes(model: nn.Module, protect: list[str] = ()) -> dict[str, tuple[int, ...]]:
    """Every convolutional attention that :func:`shrink` can cut, not named (nor its parts) in ``protect``,
    with its :func:`sizes`."""
    return {
        n: size
        for n, m in model.named_modules()
        if unit_parts(m) is not None
        and (size := sizes(m))
        and not any(p == n or p.startswith(n + ".") for p in protect)
    }


def cut_all(model: nn.Module, original: dict[str, tuple[int, ...]], kept: float) -> dict[str, list[int]]:
    """Cut each unit named in ``original`` (its sizes before any step) to ``kept`` of them (at least one
    head, one channel per head); returns the sizes now."""
    modules = dict(model.named_modules())
    now = {}
    for name, size in original.items():
        unit = modules[name]
        target = tuple(max(1, round(n * kept)) for n in size)
        if any(t < n for t, n in zip(target, sizes(unit), strict=True)):
            shrink(unit, target)
        now[name] = list(sizes(unit))
    return now


def shrink(unit: nn.Module, target: tuple[int, ...]) -> None:
    if len(target) == 1:
        cut_heads(unit, target[0])
    else:
        cut_head_widths(unit, *target)


def _strongest(scores: torch.Tensor, keep: int) -> list[int]:
    return sorted(torch.topk(scores, keep).indices.tolist())


def cut_heads(unit: nn.Module, keep: int) -> None:
    """Keep the ``keep`` heads of ``unit`` whose q, k and v weights have the largest L1 norm."""
    heads = sizes(unit)[0]
    qkv, proj = layer_of(unit.qkv), layer_of(unit.proj)
    lite = hasattr(unit, "aggreg")
    dim = unit.dim if lite else unit.head_dim
    w = qkv.weight.detach().abs()
    per_head = w.reshape(heads, -1) if lite else w.reshape(3, heads, -1).transpose(0, 1).reshape(heads, -1)
    kept = _strongest(per_head.sum(1), keep)
    if lite:  # q, k, v of each kept head; the extra scales' convs carry the same blocks
        rows = [c for h in kept for c in range(h * 3 * dim, (h + 1) * 3 * dim)]
        columns = [(s * heads + h) * dim + d for s in range(1 + len(unit.aggreg)) for h in kept for d in range(dim)]
    else:
        rows = [(p * heads + h) * dim + d for p in range(3) for h in kept for d in range(dim)]
        columns = [h * dim + d for h in kept for d in range(dim)]
    cut_block(unit.qkv, _others(rows, qkv.out_channels), outputs=True)
    for seq in getattr(unit, "aggreg", []):
        for conv in seq:
            _keep_groups(conv, rows)
    cut_block(proj, _others(columns, proj.in_channels), outputs=False)
    if not lite:
        unit.num_heads = keep


def cut_head_widths(unit: nn.Module, key: int, value: int) -> None:
    """Keep, in every head, the ``key`` query/key channels and the ``value`` value channels with the largest
    L1 norm summed over the heads (EfficientFormerV2, whose talking heads mix whole heads)."""
    heads = unit.num_heads
    q = unit.q.proj if hasattr(unit.q, "local") else unit.q
    key_now, value_now = sizes(unit)

    def per_head(blocks, width):
        return sum(layer_of(b).weight.detach().abs().reshape(heads, width, -1).sum((0, 2)) for b in blocks)

    ks = _strongest(per_head([q, unit.k], key_now), key)
    vs = _strongest(per_head([unit.v], value_now), value)
    krows = [h * key_now + j for h in range(heads) for j in ks]
    vrows = [h * value_now + j for h in range(heads) for j in vs]
    for block, rows in ((q, krows), (unit.k, krows), (unit.v, vrows), (unit.v_local, vrows)):
        cut_block(block, _others(rows, layer_of(block).out_channels), outputs=True)
    cut_block(unit.proj, _others(vrows, layer_of(unit.proj).in_channels), outputs=False)
    unit.d, unit.dh = value, value * heads
    unit.key_dim = key


def _others(kept: list[int], width: int) -> list[int]:
    """The channels of ``width`` not in ``kept``: what Torch-Pruning's functions are told to cut."""
    keep = set(kept)
    return [c for c in range(width) if c not in keep]


def _keep_groups(conv: nn.Conv2d, channels: list[int]) -> None:
    """Keep the output ``channels`` of a grouped conv whose groups are whole heads' blocks (LiteMLA's extra
    scales), with the same channels of its input; Torch-Pruning's functions do not drop whole groups."""
    if conv.groups == conv.in_channels == conv.out_channels:  # depthwise: Torch-Pruning's own function
        cut_block(conv, _others(channels, conv.out_channels), outputs=True)
        return
    per_group = conv.out_channels // conv.groups
    conv.weight = nn.Parameter(conv.weight.detach()[channels].clone())
    if conv.bias is not None:
        conv.bias = nn.Parameter(conv.bias.detach()[channels].clone())
    conv.groups, conv.in_channels, conv.out_channels = len(channels) // per_group, len(channels), len(channels)
