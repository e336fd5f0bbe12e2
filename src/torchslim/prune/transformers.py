"""Vision transformers: prune whole attention heads and MLP hidden units, then resync attributes.

(Also any module whose forward reads channel counts from plain attributes, e.g. timm's MixedConv2d
``splits`` or its MetaFormer ``Scale.shape``: ``sync_attributes`` writes the pruned sizes back after
every cut.)

Torch-Pruning removes heads when told each attention layer's head count (``num_heads``). The
modules then still carry their old sizes in plain attributes (timm's ``num_heads``/``head_dim``/
``attn_dim``, torchvision's ``VisionTransformer.hidden_dim``) that their forward uses for reshapes;
``sync_attributes`` writes the new sizes back.
"""

from __future__ import annotations

import inspect

from torch import nn

from torchslim.backends.torch_pruning import named_part


def _is_timm_attention(m: nn.Module) -> bool:
    """An attention with a fused q, k, v projection of whole heads: ``qkv`` (a linear layer) and an integer
    ``num_heads``. The rule is structural, not a class name: timm's ``Attention``, ``AttentionRope`` (rotary
    ViTs, Perception Encoder) and ``EvaAttention`` all match it; rotary embeddings act within each head, so
    removing whole heads leaves them intact. (No test of ``qkv``'s width against the head count: between a
    cut and :func:`sync_attributes` the count is stale, and the attention must still be recognised.)"""
    qkv, name = getattr(m, "qkv", None), head_count_name(m)
    return isinstance(qkv, nn.Linear) and name is not None and getattr(m, name) > 0


#: the names an attention with its own head width gives its head count (Hiera and PiT: ``heads``)
HEAD_COUNT_NAMES = ("num_heads", "heads")


def head_count_name(m: nn.Module) -> str | None:
    return next((n for n in HEAD_COUNT_NAMES if type(getattr(m, n, None)) is int), None)


#: the names attentions give their fused input projection, output projection and head count
QKV_NAMES, PROJ_NAMES, HEAD_NAMES = ("qkv", "to_qkv"), ("proj", "merge"), ("num_heads", "groups", "n_heads")
#: the layers that make q, k and v, fused or not: q, k and v (ViT-like), qkv, q and kv (Twins), qk and v (ConViT)
STACKED_NAMES = (*QKV_NAMES, "qk", "kv", "q", "k", "v")


def stacked_projections(m: nn.Module, c: int) -> list[tuple[nn.Linear, int]]:
    """The linear layers of ``m`` that make its queries, keys and values from width ``c``, each with
    how many widths of ``c`` it stacks (3 for a fused qkv, 2 for qk or kv, 1 for q, k or v alone)."""
    found = []
    for name in STACKED_NAMES:
        lin = getattr(m, name, None)
        if isinstance(lin, nn.Linear) and lin.in_features == c and lin.out_features % c == 0:
            found.append((lin, lin.out_features // c))
    return found


def tied_attention_heads(m: nn.Module) -> int | None:
    """The head count of an attention whose heads split its *input* width (``C // num_heads`` in its
    forward, or a functional forward on its weights as in torchvision's Swin), else None.

    Such an attention is cut as one unit with the residual width it reads and writes
    (``backends.torch_pruning.tied_attention_pruners``): the same channels, the same number in every
    head, from q, k, v and the projection. Torch-Pruning alone cut the residual width and left the
    attention's inner width, which the forward then reshaped wrongly; the guard kept every such width
    whole and Swin, NesT, XCiT, CaiT and DaViT kept 70-100 % of their MACs (ConViT's gated positional
    attention, with ``qk`` and ``v``, 0.72). Plain ViT attention, which
    keeps its own ``head_dim`` and ``attn_dim``, is not tied: Torch-Pruning removes its whole heads.
    """
    proj, heads = named_part(m, PROJ_NAMES), named_part(m, HEAD_NAMES)
    if isinstance(m, nn.modules.conv._ConvNd) or not isinstance(proj, nn.Linear) or type(heads) is not int:
        return None
    c = proj.out_features
    if heads < 1 or proj.in_features != c or c % heads:
        return None
    if isinstance(getattr(m, "head_dim", None), int) and isinstance(getattr(m, "attn_dim", None), int):
        return None
    # q, k and v: 3c in all, fused or not; 2c (k and v) where a global query comes from outside (GCViT)
    stacked = sum(n for _, n in stacked_projections(m, c))
    return heads if stacked == (2 if getattr(m, "use_global", False) else 3) else None


def has_rotary_heads(m: nn.Module) -> bool:
    """A tied attention whose forward takes a rotary embedding (a ``rope`` argument: EVA, EVA-02, DINOv3,
    the ``vit_*_rope`` family). The embedding is built for one head width, so its heads cannot narrow:
    it loses whole heads (``backends.torch_pruning.cut_whole_heads``)."""
    try:
        params = inspect.signature(m.forward).parameters
    except (TypeError, ValueError):
        return False
    return "rope" in params and type(getattr(m, "num_heads", None)) is int


def whole_head_widths(tied: dict[nn.Module, int]) -> dict[nn.Module, int]:
    """The tied attentions that lose whole heads, each with its head width: the multiple every cut of
    the residual width they read must be."""
    return {m: named_part(m, PROJ_NAMES).out_features // h for m, h in tied.items() if has_rotary_heads(m)}


def spatial_gates(model: nn.Module) -> dict[nn.Linear, nn.Linear]:
    """gMLP's spatial gating units, as {token-mixing projection: the layer that feeds the gate}.

    The gate splits its input into halves u and v and returns ``u * proj(norm(v))``, where ``proj`` is
    ``Linear(seq_len, seq_len)`` on the transposed half: it mixes tokens, and its width (the token count)
    is kept (``backends.torch_pruning.identities``). Channel i of the output needs channels i and
    i + half of the feeding layer, so that layer is cut in two channel groups (pairs)."""
    found = {}
    for m in model.modules():
        gate, fc1 = getattr(m, "gate", None), getattr(m, "fc1", None)
        proj, norm = getattr(gate, "proj", None), getattr(gate, "norm", None)
        if not (isinstance(fc1, nn.Linear) and isinstance(proj, nn.Linear) and isinstance(norm, nn.LayerNorm)):
            continue
        half = norm.normalized_shape[-1]
        if proj.in_features == proj.out_features != half and fc1.out_features == 2 * half:
            found[proj] = fc1
    return found


def packed_gates(model: nn.Module, gates: dict | None = None) -> list[nn.Linear]:
    """Gated MLPs whose first layer packs both halves (GLU, SwiGLU, GEGLU: ``x, g = fc(x).chunk(2)``,
    then ``x * act(g)``): a module with an activation whose two linear children read
    ``a.out_features == 2 * b.in_features``, in that order. Hidden channel i needs channels i and i + half
    of the first layer, so it is cut in two channel groups, ranked as pairs. The rule names no
    architecture: any MLP laid out so falls under it (the activation tells it from an attention's
    key-value layer and projection, which have the same widths)."""
    taken = set(map(id, (gates or {}).values()))
    found = []
    for m in model.modules():
        if not any(is_activation(c) for c in m.children()):
            continue
        linears = [c for c in m.children() if isinstance(c, nn.Linear)]
        for a, b in zip(linears, linears[1:]):
            if a.out_features == 2 * b.in_features and id(a) not in taken:
                found.append(a)
    return found


def is_activation(m: nn.Module) -> bool:
    """A torch or timm activation module (``torch.nn.modules.activation``, ``timm.layers.activations*``)."""
    return type(m).__module__.rsplit(".", 1)[-1].startswith("activation")


def tied_attentions(model: nn.Module) -> dict[nn.Module, int]:
    return {m: h for m in model.modules() if (h := tied_attention_heads(m)) is not None}


def is_head_attention(m: nn.Module) -> bool:
    """An attention Torch-Pruning cuts by whole heads: fused ``qkv`` and heads, not tied to its input width."""
    return _is_timm_attention(m) and tied_attention_heads(m) is None


def head_attentions(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if is_head_attention(m)]


def attention_heads(model: nn.Module) -> dict[nn.Module, int]:
    """The layer Torch-Pruning groups heads on, with its head count: timm's qkv, torch's MHA."""
    heads: dict[nn.Module, int] = {}
    for m in model.modules():
        if is_head_attention(m):
            heads[m.qkv] = getattr(m, head_count_name(m))
        elif isinstance(m, nn.MultiheadAttention):
            heads[m] = m.num_heads
    return heads


def sync_attributes(model: nn.Module, pruner) -> None:
    for m in model.modules():
        if is_head_attention(m):
            name = head_count_name(m)
            joined = getattr(m, name) * getattr(m, "head_dim", 0)  # the heads' width together, before the cut
            if type(getattr(m, "head_dim", None)) is int and m.head_dim > 0:
                # whole heads go and the head width stays: the count follows from the weights, not from
                # Torch-Pruning's tally, which also counts the heads of a group the guard put back
                heads = m.qkv.out_features // (3 * m.head_dim)
            else:
                heads = pruner.num_heads.get(m.qkv, getattr(m, name))
            setattr(m, name, heads)
            if isinstance(getattr(m, "head_dim", None), int):
                m.head_dim = m.qkv.out_features // (3 * heads)
            if hasattr(m, "attn_dim"):
                m.attn_dim = heads * m.head_dim
            if type(getattr(m, "dim_out", None)) is int and m.dim_out == joined:  # Hiera, MViTv2, SAM2's Hiera
                m.dim_out = heads * m.head_dim  # the width its forward reshapes the heads' output to
            if type(getattr(m, "num_kv_heads", None)) is int:  # fused qkv: as many key/value heads as queries
                m.num_kv_heads = heads
                if hasattr(m, "kv_dim"):
                    m.kv_dim = heads * m.head_dim
        elif isinstance(m, nn.MultiheadAttention):
            m.num_heads = pruner.num_heads.get(m, m.num_heads)
            m.embed_dim = m.out_proj.in_features
            m.head_dim = m.embed_dim // m.num_heads
            m.kdim = m.vdim = m.embed_dim
        if hasattr(m, "hidden_dim") and isinstance(getattr(m, "conv_proj", None), nn.Conv2d):
            m.hidden_dim = m.conv_proj.out_channels  # torchvision VisionTransformer
        scale, shape = getattr(m, "scale", None), getattr(m, "shape", None)
        if isinstance(scale, nn.Parameter) and scale.dim() == 1 and isinstance(shape, tuple) and shape:
            m.shape = (scale.numel(), *shape[1:])  # timm's MetaFormer Scale: its forward views scale as shape
        if isinstance(m, nn.ModuleDict) and isinstance(getattr(m, "splits", None), list):
            convs = list(m.values())  # timm's MixedConv2d: input split sizes kept as a plain list
            if all(isinstance(c, nn.Conv2d) for c in convs) and len(convs) == len(m.splits):
                m.splits = [c.in_channels for c in convs]
                m.in_channels, m.out_channels = sum(m.splits), sum(c.out_channels for c in convs)
