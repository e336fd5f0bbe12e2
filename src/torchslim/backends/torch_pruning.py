"""The one adapter over Torch-Pruning: importance criteria, the nearest-rounding pruner, the width cap.

Everything torchslim needs from Torch-Pruning passes through here, so an upgrade that changes its
internals (``MetaPruner._round_to``, ``layer_init_out_ch``, the pruning functions) is fixed in one
place. Torch-Pruning itself is imported only when a function here is called.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Literal, get_args

import torch
from torch import nn

#: Channel-importance criteria, by the name a recipe uses. ``taylor`` needs gradients on real data.
Importance = Literal["l1", "l2", "bn_scale", "taylor", "random"]
IMPORTANCES: tuple[str, ...] = get_args(Importance)
#: The criteria that need no data (a sensitivity scan prunes hundreds of copies without gradients).
DataFreeImportance = Literal[tuple(n for n in IMPORTANCES if n != "taylor")]  # type: ignore[valid-type]


def make_importance(name: str):
    """A Torch-Pruning importance object for one of :data:`IMPORTANCES`."""
    import torch_pruning as tp

    return {
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "bn_scale": lambda: tp.importance.BNScaleImportance(),
        "taylor": lambda: tp.importance.GroupTaylorImportance(),
        "random": lambda: tp.importance.RandomImportance(),
    }[name]()


def nearest_rounding_pruner():
    """Torch-Pruning's MetaPruner with ``round_to`` keeping the *nearest* multiple of channels (never none).

    Torch-Pruning floors the kept width, so "30 % of 32 channels, multiples of 8" keeps 16 (50 %
    pruned); the nearest multiple keeps 24. Rounding matters for speed: widths such as 22 of 32
    gave no speedup at all in ONNX Runtime (its blocked kernels pad them), 24 did.
    """
    import torch_pruning as tp

    only_gqa_expands()
    no_strided_channel_slices()
    token_channel_splits()
    concats_of_unknown_widths()
    indexed_group_lookup()

    class NearestRoundingPruner(tp.pruner.MetaPruner):
        def __init__(
            self,
            model: nn.Module,
            *args,
            customized_pruners=None,
            token_mixers=(),
            head_attentions=(),
            width_multiples=None,
            **kwargs,
        ):
            # fresh dicts: Torch-Pruning writes head counts and grouped convs into these arguments, whose
            # defaults are dicts shared by every pruner, keeping every earlier model's layers alive
            kwargs["out_channel_groups"] = dict(kwargs.get("out_channel_groups") or {})
            kwargs["in_channel_groups"] = dict(kwargs.get("in_channel_groups") or {})
            multiples = dict(width_multiples or {})
            if multiples and not kwargs.get("round_to"):
                kwargs["round_to"] = 1  # Torch-Pruning rounds only when asked: the multiples below need it
            with (
                opaque_units(model, customized_pruners or {}),
                identities(model, token_mixers),
                without_optional_inputs(head_attentions),
            ):
                super().__init__(model, *args, customized_pruners=customized_pruners, **kwargs)
            ghost_first(self.DG, model)
            self.multiples = group_multiples(self, multiples) if multiples else {}
            self.counted = None
            if self.multiples:
                remember_counted(self)

        def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
            round_to = math.lcm(round_to, self.multiples.get(self.counted, 1))
            kept = max(round_to, round((current_channels - n_pruned) / round_to) * round_to)
            return max(current_channels - kept, 0)

        def estimate_importance(self, group):
            """A group whose channel index mapping Torch-Pruning gets wrong (split/concat of hard-coded
            widths, as in Res2Net) raises while scored: it is left unpruned and listed in ``unscored``."""
            try:
                return super().estimate_importance(group)
            except (IndexError, RuntimeError, ValueError) as exc:
                if not hasattr(self, "unscored"):
                    self.unscored = []
                self.unscored.append((group[0].dep.target.module, f"{type(exc).__name__}: {str(exc)[:80]}"))
                return None

    return NearestRoundingPruner


def group_multiples(pruner, multiples: dict[nn.Module, int]) -> dict[tuple[nn.Module, bool], int]:
    """Every side (module, outputs or inputs) of a group that holds one of ``multiples``' modules, with the
    multiple its cut count must be (the least common one where a group holds several): a rotary
    attention's residual width can only lose whole heads."""
    graph, found = pruner.DG, {}
    for group in graph.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types):
        sides = [(dep.target.module, graph.is_out_channel_pruning_fn(dep.handler)) for dep, _ in group]
        m = math.lcm(*(multiples.get(module, 1) for module, _ in sides))
        if m > 1:
            for side in sides:  # keyed by side: a layer's inputs and outputs are in different groups
                found[side] = math.lcm(found.get(side, 1), m)
    return found


def remember_counted(pruner) -> None:
    """Torch-Pruning counts a group root's channels just before it rounds the group's cut
    (``get_channel_fn(module)``, then ``_round_to``): the pruner remembers which module was counted, so
    its rounding knows whose group it rounds."""
    graph = pruner.DG
    for name in ("get_out_channels", "get_in_channels"):
        original = getattr(graph, name)

        def counted(module, original=original, outputs=name == "get_out_channels"):
            pruner.counted = (module, outputs)
            return original(module)

        setattr(graph, name, counted)


class _Opaque(torch.autograd.Function):
    """An output whose autograd history is its unit's inputs alone (see :func:`opaque_units`)."""

    @staticmethod
    def forward(ctx, out, *inputs):
        ctx.shapes = [x.shape for x in inputs]
        return out.clone()

    @staticmethod
    def backward(ctx, grad):
        return (None, *(grad.new_zeros(s) for s in ctx.shapes))


@contextmanager
def opaque_units(model: nn.Module, pruners: dict):
    """While Torch-Pruning traces: the modules it has a custom pruner for (by class or instance) show
    their inputs, not their inner operations, as the history of their output.

    Torch-Pruning walks the autograd graph from a custom unit's output into the unit's own operations.
    Torchvision's patch merging concatenates four 2x2 slices of its input, so one residual channel
    reached the unit as four indices, the group asked for twice the unit's width, and the guard
    rejected it: Swin-T's first three stages were never cut. The unit's pruner cuts its own inside;
    Torch-Pruning only needs which width it reads and writes. Only inputs of the unit's channel width
    are tied to its output (the first input always): a relative-position bias shared by every block
    (heads x tokens x tokens) tied the bias MLP's 6 outputs to the residual width, the residual group
    could not be scored, and vit_srelpos kept 0.67 of its MACs."""
    units = [m for m in model.modules() if m in pruners or type(m) in pruners]

    def opaque(forward):
        def run(*args, **kwargs):
            with torch.no_grad():
                out = forward(*args, **kwargs)
            inputs = [x for x in [*args, *kwargs.values()] if isinstance(x, torch.Tensor) and x.requires_grad]
            if not isinstance(out, torch.Tensor) or not inputs:
                return out
            inputs = inputs[:1] + [x for x in inputs[1:] if same_width(x, out)]
            return _Opaque.apply(out, *inputs)

        return run

    own = {m: m.__dict__["forward"] for m in units if "forward" in m.__dict__}
    for m in units:
        m.forward = opaque(m.forward)
    try:
        yield
    finally:
        for m in units:
            del m.forward
            if m in own:
                m.forward = own[m]


@contextmanager
def without_optional_inputs(modules):
    """While Torch-Pruning traces: ``modules`` (attentions that Torch-Pruning cuts by whole heads) get
    None for every optional input (a forward argument whose default is None: rotary embeddings,
    attention masks). A rotary embedding rotates pairs of channels *within* each head; traced, its
    interleaved slices, stack and reshape mapped one channel to the wrong indices, scoring raised, and
    the guard kept every ``qkv`` whole (the Perception Encoder ViT kept 0.68 of its MACs). Cutting whole
    heads never splits a pair, so the trace without them groups the same channels."""
    import inspect

    def drop(mod, args, kwargs):
        try:
            params = list(inspect.signature(mod.forward).parameters.values())
        except (TypeError, ValueError):
            return None
        optional = {p.name for p in params if p.default is None}
        args = tuple(None if i and i < len(params) and params[i].name in optional else a for i, a in enumerate(args))
        return args, {k: (None if k in optional else v) for k, v in kwargs.items()}

    handles = [m.register_forward_pre_hook(drop, with_kwargs=True) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def same_width(x: torch.Tensor, out: torch.Tensor) -> bool:
    """Whether ``x`` carries channels of ``out``'s width: last axis (tokens) or axis 1 (NCHW maps)."""
    if x.dim() == 0 or out.dim() == 0:
        return False
    return x.shape[-1] == out.shape[-1] or (x.dim() == out.dim() == 4 and x.shape[1] == out.shape[1])


@contextmanager
def identities(model: nn.Module, layers):
    """While Torch-Pruning traces: ``layers`` (each mapping a non-channel dimension to itself, such as
    gMLP's token-mixing projection) are swapped for ``nn.Identity``, so they are not in the graph and
    never cut.

    Torch-Pruning reads a linear layer's input features as channels. gMLP's spatial gate applies
    ``Linear(tokens, tokens)`` to the transposed gate half; the trace tied the token count to the
    channel width, every gate had to be protected, and with it each block's hidden width: gMLP kept
    0.67 of its MACs at ratio 0.5. Passed through, the gate is a channel-wise product of the two
    halves, which Torch-Pruning cuts in pairs."""
    chosen = {id(m) for m in layers}
    slots = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if id(child) in chosen
    ]
    for parent, name, _ in slots:
        setattr(parent, name, nn.Identity())
    try:
        yield
    finally:
        for parent, name, child in slots:
            setattr(parent, name, child)


def indexed_group_lookup() -> None:
    """Make Torch-Pruning's ``Group.has_pruning_op`` a table lookup instead of a scan of the group.

    Building a group asks, for every dependency it reaches, whether the group already holds it: a
    scan of the whole group each time. On torchvision's Swin-T that was 64 of the 76 s the dependency
    graph took, past the 30 s bound, so the model was pruned part by part. The table, keyed by
    (node, pruning function) like the scan's test, is extended as the group grows and dropped when
    an item is replaced; the answers are the same."""
    from torch_pruning.dependency.group import Group

    if getattr(Group.has_pruning_op, "torchslim", False):
        return

    def table(group) -> dict:
        cache = group.__dict__.get("_torchslim_table")
        if cache is None or cache[0] > len(group._group):
            cache = [0, {}]
        for dep, idxs in group._group[cache[0] :]:
            cache[1].setdefault((dep.target, dep.handler), []).append(idxs)
        cache[0] = len(group._group)
        group._torchslim_table = cache
        return cache[1]

    def has_pruning_op(self, dep, idxs) -> bool:
        return any(held == idxs for held in table(self).get((dep.target, dep.handler), ()))

    def dropping_table(method):
        def wrapped(self, *args):
            self.__dict__.pop("_torchslim_table", None)
            return method(self, *args)

        return wrapped

    has_pruning_op.torchslim = True
    Group.has_pruning_op = has_pruning_op
    Group.__setitem__ = dropping_table(Group.__setitem__)
    Group.add_and_merge = dropping_table(Group.add_and_merge)


def only_gqa_expands() -> None:
    """Keep Torch-Pruning's grouped-query-attention index mapping off expands that repeat nothing.

    Torch-Pruning maps every 5-D ``expand`` as Hugging Face's ``repeat_kv`` (keys and values repeated
    ``out // in`` times). Attention over 5-D tensors (NesT's blocks of tokens) expands without
    repeating channels; the repeat came out 0 and the mapping divided by zero, so NesT never traced
    whole and kept 0.76 of its MACs, part by part. A mapping with a repeat below 1 is undone, leaving
    the identity that any other expand gets. Installed once, in the one adapter."""
    from torch_pruning.dependency import index_mapping

    def wrap(original):
        def update_expand_index_mapping(graph, node):
            deps = list(node.dependencies) + [d for n in node.inputs for d in n.dependencies if d.target == node]
            before = [(d, d.index_mapping[0]) for d in deps]
            original(graph, node)
            for dep, mapping in before:
                now = dep.index_mapping[0]
                if isinstance(now, index_mapping._GQAIndexMapping) and now.repeat < 1:
                    dep.index_mapping[0] = mapping

        return update_expand_index_mapping

    _install_once(index_mapping, "update_expand_index_mapping", wrap)


def no_strided_channel_slices() -> None:
    """Map a strided slice (``x[:, ::2]``) as a spatial subsampling, which keeps every channel.

    Torch-Pruning maps any slice along dimension 1 of a 4-D tensor as a slice of channels. Channels-last
    tensors (LeViT's subsampled queries, ``x.view(B, H, W, C)[:, ::2, ::2]``) subsample rows there; the
    channels came out scrambled, the query layer after it kept its old width and the guard kept LeViT's
    residual widths whole. Channel slices (split halves of CSP nets) have step 1 and keep the mapping."""
    from torch_pruning.dependency import index_mapping

    def wrap(original):
        def update_slice_index_mapping(graph, slice_node):
            if getattr(slice_node.module, "step", 1) in (None, 1):
                original(graph, slice_node)

        return update_slice_index_mapping

    _install_once(index_mapping, "update_slice_index_mapping", wrap)


def token_channel_splits() -> None:
    """Map a split along the last dimension of a token tensor (B, N, C) as a split of channels.

    Torch-Pruning maps a split only along dimension 1 (NCHW channels). Linear layers on tokens keep
    channels last, so a gated MLP's ``fc1(x).chunk(2, dim=-1)`` (GLU, SwiGLU, GEGLU) passed every index
    of the packed layer unchanged to the layer after the product, which has half as many: scoring raised,
    and every such MLP was left whole (EVA-02 kept all of its MACs). Here each half's indices are
    offset as Torch-Pruning does for channel splits. (Torch-Pruning also turns mapping off for any split
    downstream of a 3-D parameter, for the class token's concatenation along the token axis; a split
    along the channel axis is not that case. PyTorch saves ``dim=-1`` as 2**64 - 1.)"""
    from torch_pruning.dependency import index_mapping

    def wrap(original):
        def update_split_index_mapping(graph, node):
            grad_fn = node.grad_fn
            dim, sizes = getattr(grad_fn, "_saved_dim", None), getattr(grad_fn, "_saved_self_sym_sizes", None)
            if dim is not None and sizes is not None and dim >= len(sizes):
                dim -= 2**64  # a negative dim, saved unsigned
            offsets = getattr(node.module, "offsets", None)
            tokens = sizes is not None and len(sizes) == 3 and dim in (-1, 2)
            if not tokens or offsets is None:
                return original(graph, node)
            for reverse, pairs in (
                (False, [(dep, out) for out in node.outputs for dep in node.dependencies if dep.target == out]),
                (True, [(dep, out) for out in node.outputs for dep in out.dependencies if dep.target == node]),
            ):
                done: set[int] = set()
                for i, out in enumerate(node.outputs):
                    dep = next((d for d, o in pairs if o is out and id(d) not in done), None)
                    if dep is not None:
                        dep.index_mapping[0] = index_mapping._SplitIndexMapping(
                            offset=offsets[i : i + 2], reverse=reverse
                        )
                        done.add(id(dep))

        return update_split_index_mapping

    _install_once(index_mapping, "update_split_index_mapping", wrap)


def concats_of_unknown_widths() -> None:
    """Leave a concatenation unmapped when the width of one of its inputs cannot be inferred.

    Torch-Pruning maps no index through such a concatenation (its offsets loop returns at the first
    unknown width), but it sums the widths first and raised a TypeError on the None. CoaT concatenates
    its class token with the image tokens along the token axis (``torch.cat((cls_token, x), dim=1)``
    on (B, N, C)) after a slice, so no CoaT traced whole and each was cut part by part, MLPs only
    (coat_lite_medium_384 kept 0.69 of its MACs)."""
    from torch_pruning.dependency import index_mapping

    def wrap(original):
        def update_concat_index_mapping(graph, cat_node):
            try:
                original(graph, cat_node)
            except TypeError:
                if None not in (getattr(cat_node.module, "concat_sizes", None) or []):
                    raise

        return update_concat_index_mapping

    _install_once(index_mapping, "update_concat_index_mapping", wrap)


def _install_once(owner, name: str, wrap) -> None:
    """Replace ``owner.name`` by ``wrap(owner.name)``, once per process (the adapter's fixes are
    installed each time a pruner is made)."""
    original = getattr(owner, name)
    if getattr(original, "torchslim", False):
        return
    replacement = wrap(original)
    replacement.torchslim = True
    setattr(owner, name, replacement)


def is_patch_merging(m: nn.Module) -> bool:
    """A Swin-style patch merging: each 2x2 neighbourhood's C channels laid side by side (4C, in four
    blocks of C, whether by concatenation as in torchvision or by reshape as in timm), then a linear
    ``reduction`` to the next stage's width, with a layer norm before it (over 4C) or after (over its
    output)."""
    reduction, norm = getattr(m, "reduction", None), getattr(m, "norm", None)
    if not isinstance(reduction, nn.Linear) or not isinstance(norm, nn.LayerNorm) or reduction.in_features % 4:
        return False
    return norm.normalized_shape[0] in (reduction.in_features, reduction.out_features)


def by_class(model: nn.Module, chosen, pruner) -> dict:
    """``pruner`` for every class all of whose instances in ``model`` are ``chosen``: Torch-Pruning
    1.6 looks custom pruners up by class only (an instance key is traced but never used)."""
    classes = {type(m) for m in model.modules() if chosen(m)}
    mixed = {type(m) for m in model.modules() if type(m) in classes and not chosen(m)}
    return {cls: pruner for cls in classes - mixed}


def patch_merging_pruners(model: nn.Module) -> dict:
    """Torch-Pruning pruners for the model's patch-merging layers, by class: one input channel is
    four columns of the reduction (and of the norm before it). Traced as one unit, because Torch-Pruning
    maps a channel through timm's reshape-permute-flatten to the wrong columns and the guard then kept
    every Swin stage's width whole."""
    from torch_pruning.pruner import function

    class PatchMergingPruner(function.BasePruningFunc):
        TARGET_MODULES = None

        def prune_out_channels(self, layer: nn.Module, idxs):
            function.prune_linear_out_channels(layer.reduction, idxs)
            if layer.norm.normalized_shape[0] != 4 * self.get_in_channels(layer):
                function.prune_layernorm_out_channels(layer.norm, idxs)
            return layer

        def prune_in_channels(self, layer: nn.Module, idxs):
            c = self.get_in_channels(layer)
            columns = [int(i) + k * c for k in range(4) for i in idxs]
            norm_before = layer.norm.normalized_shape[0] == layer.reduction.in_features
            function.prune_linear_in_channels(layer.reduction, columns)
            if norm_before:
                function.prune_layernorm_out_channels(layer.norm, columns)
            if isinstance(getattr(layer, "dim", None), int):
                layer.dim = c - len(idxs)
            return layer

        def get_out_channels(self, layer: nn.Module) -> int:
            return layer.reduction.out_features

        def get_in_channels(self, layer: nn.Module) -> int:
            return layer.reduction.in_features // 4

    return by_class(model, is_patch_merging, PatchMergingPruner())


def own_width_pruners(model: nn.Module, units: dict[nn.Module, tuple[list, list, list]]) -> dict:
    """Torch-Pruning pruners for units that keep an inner width of their own (convolutional attention:
    heads reshaped out of channels, which Torch-Pruning's index mapping gets wrong), by class.

    ``units`` maps each unit to (readers, writers, passes): the layers reading the unit's input (their
    input channels are cut with it), those writing its output (their output channels and norm), and the
    depthwise layers on its input width (cut whole). Input and output are separate widths, joined only
    where the graph joins them (a residual); the inner width is left to the unit (``prune.conv_attention``)."""
    from torch_pruning.pruner import function

    class OwnWidthPruner(function.BasePruningFunc):
        TARGET_MODULES = None

        def prune_out_channels(self, layer: nn.Module, idxs):
            for block in units[layer][1]:
                cut_block(block, idxs, outputs=True)
            return layer

        def prune_in_channels(self, layer: nn.Module, idxs):
            for block in units[layer][2]:
                cut_block(block, idxs, outputs=True)
            for block in units[layer][0]:
                cut_block(block, idxs, outputs=False)
            return layer

        def get_out_channels(self, layer: nn.Module) -> int:
            return _width(units[layer][1][0], outputs=True)

        def get_in_channels(self, layer: nn.Module) -> int:
            return _width(units[layer][0][0], outputs=False)

    return by_class(model, lambda m: m in units, OwnWidthPruner())


def passthrough_pruners(model: nn.Module, units: set[nn.Module]) -> dict:
    """Torch-Pruning pruners for units that work at any channel width (``prune.probing.width_agnostic_units``),
    by class: like an elementwise operation, the unit's input and output channels are one width (the same
    function cuts both, which Torch-Pruning reads as an intra-layer dependency) and it owns nothing to cut."""
    from torch_pruning.pruner import function

    class PassthroughPruner(function.BasePruningFunc):
        TARGET_MODULES = None

        def prune_out_channels(self, layer: nn.Module, idxs):
            return layer

        prune_in_channels = prune_out_channels

        def get_out_channels(self, layer: nn.Module):
            return None

        get_in_channels = get_out_channels

    return by_class(model, lambda m: m in units, PassthroughPruner())


def layer_of(block: nn.Module) -> nn.Module:
    """The conv or linear layer of a block: itself, its ``conv`` (timm's ConvNorm, ConvNormAct), or the one
    convolution inside it whatever it is called (LeViT's ConvNorm names it ``linear``; its projection is an
    activation, then that)."""
    if isinstance(block, (nn.Conv2d, nn.Linear)):
        return block
    if isinstance(getattr(block, "conv", None), nn.Conv2d):
        return block.conv
    return only_conv(block)


def only_conv(block: nn.Module) -> nn.Module | None:
    """The single Conv2d among ``block``'s modules, when it holds exactly one and no linear layer."""
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in block.modules() if isinstance(m, nn.Linear)]
    return convs[0] if len(convs) == 1 and not linears else None


def _width(block: nn.Module, outputs: bool) -> int:
    layer = layer_of(block)
    if isinstance(layer, nn.Linear):
        return layer.out_features if outputs else layer.in_features
    return layer.out_channels if outputs else layer.in_channels


def cut_block(block: nn.Module, idxs, outputs: bool) -> None:
    """Cut ``idxs`` from a block's output channels (and its batch norm's) or input channels, with
    Torch-Pruning's functions; a depthwise conv loses them on both sides."""
    from torch_pruning.pruner import function

    layer = layer_of(block)
    if not outputs:
        (function.prune_linear_in_channels if isinstance(layer, nn.Linear) else function.prune_conv_in_channels)(
            layer, idxs
        )
        return
    if isinstance(layer, nn.Linear):
        function.prune_linear_out_channels(layer, idxs)
    elif layer.groups > 1 and layer.groups == layer.in_channels == layer.out_channels:
        function.prune_depthwise_conv_out_channels(layer, idxs)
    else:
        function.prune_conv_out_channels(layer, idxs)
    norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)] if block is not layer else []
    if len(norms) == 1:  # the block's norm after its conv (``bn``, ``norm``, or inside a wrapper)
        function.prune_batchnorm_out_channels(norms[0], idxs)


def tied_attention_pruners(
    model: nn.Module, units: dict[nn.Module, int], stacked, proj_names, whole_heads: frozenset = frozenset()
) -> dict:
    """Torch-Pruning pruners for attentions whose heads split their input width (``prune.transformers.
    tied_attention_heads``: ``units``, each with its head count), by class. Input and output are one width
    (pruning the input prunes the output: Torch-Pruning's intra-layer dependency), cut the same in
    every head (channel groups = heads): a channel removed from the residual is removed from q, k and
    v and from the projection's input and output, so every head keeps the same narrower width.
    ``stacked(layer, c)`` lists the layers making q, k and v, each with how many widths it stacks.

    A unit in ``whole_heads`` has a head width fixed from outside (a rotary embedding of that width):
    it loses whole heads instead, as many as the residual loses head widths (the pruner rounds the
    residual's cut to a multiple of the head width), and the heads are chosen by their own weights'
    L2 norm (q, k and v rows and the projection's columns): the residual's channels and the heads are
    different axes, tied only in number."""
    from torch_pruning.pruner import function

    class TiedAttentionPruner(function.BasePruningFunc):
        TARGET_MODULES = None

        def prune_out_channels(self, layer: nn.Module, idxs):
            c = self.get_out_channels(layer)
            idxs = sorted(int(i) for i in idxs)
            proj = named_part(layer, proj_names)
            fused = stacked(layer, c)
            if layer in whole_heads:
                cut_whole_heads(layer, proj, fused, idxs, c // layer.num_heads)
                return layer
            if own_inner_width(layer):
                for lin, _ in fused:
                    function.prune_linear_in_channels(lin, idxs)
                function.prune_linear_out_channels(proj, idxs)
                return layer
            cut_projections(layer, fused, proj, idxs, idxs)
            named = {id(x) for x in [layer, proj] + [lin for lin, _ in fused]}
            for sub in layer.modules():  # the unit's own layers on its width (Twins' sub-sampling conv and norm)
                if id(sub) in named:
                    continue
                if isinstance(sub, nn.Conv2d) and sub.groups == 1 and sub.in_channels == sub.out_channels == c:
                    function.prune_conv_out_channels(sub, idxs)
                    function.prune_conv_in_channels(sub, idxs)
                elif isinstance(sub, nn.LayerNorm) and tuple(sub.normalized_shape) == (c,):
                    function.prune_layernorm_out_channels(sub, idxs)
                elif isinstance(getattr(sub, "channel_splits", None), list) and sum(sub.channel_splits) == c:
                    cut_channel_splits(sub, idxs)  # CoaT's per-head depthwise encodings (shared: cut once)
                elif is_residual_mlp(sub, c):  # an MLP the unit adds to its own output (latent attention pooling)
                    function.prune_linear_in_channels(sub.fc1, idxs)
                    function.prune_linear_out_channels(sub.fc2, idxs)
            cut_own_tokens(layer, idxs, c)
            if isinstance(getattr(layer, "head_dim", None), int):
                layer.head_dim = proj.out_features // units[layer]
            for name in ("dim", "embed_dim", "feat_dim", "attn_dim", "attention_dim"):
                if isinstance(getattr(layer, name, None), int):
                    setattr(layer, name, proj.out_features)
            return layer

        prune_in_channels = prune_out_channels

        def get_out_channels(self, layer: nn.Module) -> int:
            return named_part(layer, proj_names).out_features

        get_in_channels = get_out_channels

        def get_out_channel_groups(self, layer: nn.Module) -> int:
            return 1 if own_inner_width(layer) or layer in whole_heads else units.get(layer, 1)

        get_in_channel_groups = get_out_channel_groups

    return by_class(model, lambda m: m in units, TiedAttentionPruner())


def cut_projections(layer: nn.Module, fused, proj: nn.Linear, outer: list[int], inner: list[int]) -> None:
    """Cut residual channels ``outer`` from a tied attention's q, k, v inputs and projection outputs, and
    inner channels ``inner`` from each of the widths q, k and v stack and from the projection's inputs."""
    from torch_pruning.pruner import function

    c = proj.out_features
    for lin, n in fused:  # the same inner channels of each of the n widths a layer stacks
        rows = [i + s * c for s in range(n) for i in inner]
        function.prune_linear_out_channels(lin, rows)
        function.prune_linear_in_channels(lin, outer)
        cut_side_tensors(layer, lin, n * c, set(rows))
    function.prune_linear_in_channels(proj, inner)
    function.prune_linear_out_channels(proj, outer)


def cut_whole_heads(layer: nn.Module, proj: nn.Linear, fused, idxs: list[int], head: int) -> None:
    """Cut residual channels ``idxs`` from a tied attention's inputs and outputs, and as many whole heads
    of width ``head`` (the weakest by L2 norm) from its inner width, so that heads x head width still
    equals the residual width its forward reshapes to."""
    from torch_pruning.pruner import function

    c = proj.out_features
    if len(idxs) % head:
        raise ValueError(f"a cut of {len(idxs)} channels is not a whole number of heads of width {head}")
    heads = c // head
    norms = proj.weight.detach().reshape(c, heads, head).pow(2).sum(dim=(0, 2))
    for lin, n in fused:
        norms += lin.weight.detach().reshape(n, heads, head, -1).pow(2).sum(dim=(0, 2, 3))
    gone = sorted(int(h) for h in norms.argsort()[: len(idxs) // head])
    inner = [h * head + i for h in gone for i in range(head)]
    cut_projections(layer, fused, proj, idxs, inner)
    for sub in layer.children():  # a norm over the heads' concatenated outputs (EVA's ``norm``)
        if isinstance(sub, nn.LayerNorm) and tuple(sub.normalized_shape) == (c,):
            function.prune_layernorm_out_channels(sub, inner)
    layer.num_heads = heads - len(gone)


def is_residual_mlp(m: nn.Module, c: int) -> bool:
    """Two linear layers ``fc1`` and ``fc2`` that read and write width ``c`` (a transformer MLP)."""
    fc1, fc2 = getattr(m, "fc1", None), getattr(m, "fc2", None)
    return isinstance(fc1, nn.Linear) and isinstance(fc2, nn.Linear) and fc1.in_features == fc2.out_features == c


def cut_own_tokens(layer: nn.Module, idxs: list[int], c: int) -> None:
    """Cut the unit's own token parameters of width ``c`` on their last axis: a learned query (latent
    attention pooling's ``latent``, 1 x L x C) or position embedding, which q reads instead of the input."""
    keep = [i for i in range(c) if i not in set(idxs)]
    for name, p in list(layer.named_parameters(recurse=False)):
        if p.dim() >= 2 and p.shape[-1] == c:
            setattr(layer, name, nn.Parameter(p.data[..., keep].clone(), requires_grad=p.requires_grad))


def cut_channel_splits(holder: nn.Module, idxs: list[int]) -> None:
    """Cut ``idxs`` (of the concatenated width) from depthwise convolutions that each take one consecutive
    split of the channels (``holder.conv_list`` over ``holder.channel_splits``, heads in order), and resize
    the splits."""
    from torch_pruning.pruner import function

    offset = 0
    for conv, width in zip(holder.conv_list, list(holder.channel_splits), strict=True):
        local = [i - offset for i in idxs if offset <= i < offset + width]
        if local:
            function.prune_depthwise_conv_out_channels(conv, local)
        offset += width
    holder.channel_splits = [conv.out_channels for conv in holder.conv_list]


def own_inner_width(attention: nn.Module) -> bool:
    """An attention whose heads have a fixed width of their own (timm's MaxViT: ``dim_head``, q, k and v
    interleaved per head), so that its inner width does not follow the residual: only the residual
    width it reads (q, k, v's inputs) and writes (the projection's outputs) is cut."""
    return isinstance(getattr(attention, "dim_head", None), int)


def named_part(m: nn.Module, names):
    """The first of ``names`` that ``m`` has (not None): model families name the same part differently."""
    return next((getattr(m, n) for n in names if getattr(m, n, None) is not None), None)


def trim_channel_params(group, model: nn.Module | None = None) -> None:
    """After a group is cut: slice the per-output-channel tensors Torch-Pruning does not know about.

    A convolution's own extras (timm's ``ScaledStdConv2d.gain`` in NF-Nets) are cut like its weight:
    Torch-Pruning cuts only weight and bias, so such a layer broke at its next forward and the guard
    kept it whole (NF-RegNet-B0 kept 99 % of its MACs at ratio 0.5; registering a custom pruner for the
    class instead hides the layer from the importance criteria, which then leave its groups uncut).
    Given ``model``, so are the tensors a layer's parent keeps for it (:func:`cut_side_tensors`)."""
    from torch_pruning.pruner import function

    parents = None
    for dep, idxs in group:
        layer = dep.target.module
        if dep.pruning_fn not in (function.prune_conv_out_channels, function.prune_linear_out_channels):
            continue
        cut = {int(i) for i in idxs}
        conv = isinstance(layer, nn.modules.conv._ConvNd)  # transposed convolutions too (a DCGAN generator)
        before = (layer.out_channels if conv else layer.out_features) + len(cut)
        if conv:
            for name, p in list(layer.named_parameters(recurse=False)):
                if name not in ("weight", "bias") and p.dim() and p.shape[0] == before:
                    kept = p.data[_kept(before, cut)].clone()
                    setattr(layer, name, nn.Parameter(kept, requires_grad=p.requires_grad))
        if model is not None:
            parents = parents if parents is not None else {id(c): m for m in model.modules() for c in m.children()}
            if id(layer) in parents:
                cut_side_tensors(parents[id(layer)], layer, before, cut)


def _kept(width: int, cut: set[int]) -> list[int]:
    return [i for i in range(width) if i not in cut]


def cut_side_tensors(parent: nn.Module, layer: nn.Module, before: int, cut: set[int]) -> None:
    """Cut the q, k and v biases an attention keeps beside its fused ``qkv`` layer (which then has no
    bias of its own) and concatenates in its forward: BEiT's and EVA's ``q_bias``, ``k_bias``, ``v_bias``,
    one third of the outputs each, named by their first letter. EVA-02 and the rotary ViTs lost whole
    heads from ``qkv`` while these kept their width, and the guard kept every ``qkv`` whole. (Torch-Pruning
    does not see them: the forward reads them through a concatenation it does not trace as channels.)"""
    if getattr(parent, "qkv", None) is not layer or layer.bias is not None or before % 3:
        return
    third, kept = before // 3, _kept(before, cut)
    tensors = [(n, t, False) for n, t in parent.named_parameters(recurse=False)]
    tensors += [(n, t, True) for n, t in parent.named_buffers(recurse=False)]
    for name, t, buffer in tensors:
        if t is None or t.dim() != 1 or t.numel() != third or name[:1] not in ("q", "k", "v"):
            continue
        start = "qkv".index(name[0]) * third
        value = t.data[[i - start for i in kept if start <= i < start + third]].clone()
        if buffer:
            parent._buffers[name] = value
        else:
            setattr(parent, name, nn.Parameter(value, requires_grad=t.requires_grad))


def ghost_first(graph, model: nn.Module) -> None:
    """Root the groups of ghost modules (timm's GhostNet V1-V3) at their primary convolution.

    A ghost module concatenates its primary features with a depthwise "cheap" copy of them, so output
    channels i and C+i stand or fall together. Torch-Pruning roots each group at the first layer it
    meets in its graph; where that is the depthwise convolution or squeeze-excitation reading the
    concatenation (a stride-2 ghost bottleneck), the 2C indices cannot be cut in pairs and the whole
    group was left uncut: GhostNet kept 76 % of its MACs at ratio 0.5. Rooted at the primary conv,
    one index is one pair, and the same network keeps about 30 %. GhostNetV3 before re-parameterisation
    has no single primary convolution but parallel branches (``primary_rpr_conv``), every one of which
    roots the group as well (ghostnetv3_100 kept 0.97 of its MACs)."""
    primaries = {
        id(conv)
        for m in model.modules()
        if hasattr(m, "cheap_operation")
        for name, part in m.named_children()
        if name.startswith("primary")  # V1/V2's primary_conv; V3's unfused branches (primary_rpr_conv)
        for conv in part.modules()
        if isinstance(conv, nn.Conv2d)
    }
    if primaries:
        order = sorted(graph.module2node.items(), key=lambda item: id(item[0]) not in primaries)
        graph.module2node = dict(order)


def cap_against(pruner, model: nn.Module, original: dict[str, tuple[int | None, int | None]]) -> None:
    """Make a pruner's ``max_pruning_ratio`` count from the ``original`` (out, in) widths, by layer name.

    Every step of an iterative method builds a new pruner, which would take the current widths as
    its reference; then a layer could lose 80 % at each step and end with a handful of channels.
    """
    for name, m in model.named_modules():
        if name in original and m in pruner.layer_init_out_ch:
            out, inp = original[name]
            pruner.layer_init_out_ch[m] = out if out is not None else pruner.layer_init_out_ch[m]
            pruner.layer_init_in_ch[m] = inp if inp is not None else pruner.layer_init_in_ch[m]


def dependency_groups(model: nn.Module, example: torch.Tensor, ignored: list[nn.Module]):
    """The traced dependency graph and its prunable groups rooted at conv, transposed-conv and linear layers
    (a generator is made of transposed convolutions: without them it has no group, and a method cuts nothing)."""
    import torch_pruning as tp

    dg = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    roots = [nn.Conv2d, nn.ConvTranspose2d, nn.Linear]
    return dg, list(dg.get_all_groups(ignored_layers=ignored, root_module_types=roots))


def output_channels_first(module: nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` (a layer's weight or bias) as a view whose first axis is the layer's output channel:
    a transposed convolution stores its weight as (in, out, k, k), every other layer as (out, ...)."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and tensor.dim() > 1:
        if module.groups != 1:  # (in, out / groups, ...): an output channel is not one index of an axis
            raise ValueError(f"a grouped transposed convolution ({module}) has no output-channel axis to index")
        return tensor.transpose(0, 1)
    return tensor


def is_input_pruning(dep) -> bool:
    """Whether a group member removes a conv's or linear's *input* channels (a consumer of the group)."""
    from torch_pruning.pruner import function

    return dep.pruning_fn in (function.prune_conv_in_channels, function.prune_linear_in_channels)


def next_modules(graph, module: nn.Module) -> list[nn.Module]:
    """The modules that read ``module``'s output in the traced graph."""
    node = graph.module2node.get(module)
    return [n.module for n in node.outputs] if node is not None else []


def is_batchnorm_pruning(dep) -> bool:
    """Whether a group member removes a batch norm's channels (the norm after a producer)."""
    from torch_pruning.pruner import function

    return dep.pruning_fn == function.prune_batchnorm_out_channels  # a bound method: equal, not identical


def is_output_pruning(dep) -> bool:
    """Whether a group member removes a conv's or linear's *output* channels (a producer of the group)."""
    from torch_pruning.pruner import function

    return dep.pruning_fn in (function.prune_conv_out_channels, function.prune_linear_out_channels)
