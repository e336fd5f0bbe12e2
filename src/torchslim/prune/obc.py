"""Optimal Brain Compression, structured (Frantar & Alistarh 2022, "Optimal Brain Compression: A
Framework for Accurate Post-Training Quantization and Pruning", NeurIPS).

The defining step, one layer at a time on calibration images and without gradient training: the
layer's inputs X give its Hessian H = 2 X Xᵀ (of the squared output error); Optimal Brain Surgeon
removes whole input channels (a block of columns: C_in x k x k for a convolution) one after another,
each time the one whose removal raises the output error least,

    err(S) = tr(W_S (H⁻¹_SS)⁻¹ W_Sᵀ),

and updates every remaining weight of the layer to compensate, W ← W − W_S (H⁻¹_SS)⁻¹ H⁻¹_S,: , with
H⁻¹ updated the same way. A removed input channel is a removed output channel of the layers that
produce it, so a channel group is eligible when one weighted layer consumes it (a residual block's
inner width); residual streams, read by many layers, are kept whole. Layers are compressed in order,
each on the inputs the already-compressed network gives it. An optional fine-tune follows.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from torchslim.backends.brevitas import require_float
from torchslim.backends.torch_pruning import is_output_pruning
from torchslim.data.sampling import calibration_images
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodContext, register_method
from torchslim.prune.soft_filters import FilterGroups, ratio_for_macs
from torchslim.prune.targets import ChannelTargetConfig, channel_fraction, kept_whole, pruning_amount


class OBCConfig(ChannelTargetConfig):
    """OBC (structured): Optimal Brain Surgeon removal of input channels with compensation, layer by layer."""

    calibration_samples: int = Field(512, ge=1, description="training images whose layer inputs give each Hessian")
    dampening: float = Field(0.01, gt=0, description="added to H's diagonal, as a fraction of its mean")
    finetune_epochs: int = Field(0, ge=0, description="optional fine-tuning after the one-shot step")


def obs_remove(W: torch.Tensor, H: torch.Tensor, block: int, n: int, dampening: float = 0.01):
    """Remove ``n`` blocks of ``block`` consecutive input columns of ``W`` (rows: outputs) greedily by
    OBS error under the Hessian ``H``, compensating the rest. Returns (new W, removed blocks in order,
    the error of each removal). Computed in float64."""
    W, H = W.double().clone(), H.double().clone()
    dead = torch.diag(H) == 0  # a column that never sees input: nothing to compensate with it
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += dampening * torch.diag(H).mean() * torch.eye(len(H), dtype=H.dtype)
    Hinv = torch.cholesky_inverse(torch.linalg.cholesky(H))
    alive = list(range(W.shape[1] // block))
    removed, errors = [], []
    for _ in range(n):
        cols = torch.tensor([[b * block + i for i in range(block)] for b in alive])
        Hs_inv = torch.linalg.inv(Hinv[cols[:, :, None], cols[:, None, :]])
        Ws = W[:, cols].permute(1, 0, 2)  # (blocks, rows, block)
        err = torch.einsum("brk,bkl,brl->b", Ws, Hs_inv, Ws)
        j = int(torch.argmin(err))
        S = cols[j]
        W -= W[:, S] @ Hs_inv[j] @ Hinv[S, :]
        Hinv -= Hinv[:, S] @ Hs_inv[j] @ Hinv[S, :]
        removed.append(alive.pop(j))
        errors.append(float(err[j]))
        for b in removed:  # exactly zero (rounding leaves ~1e-17 where the updates cancel)
            W[:, b * block : (b + 1) * block] = 0.0
    return W, removed, errors


def single_consumer(group) -> bool:
    """A group read by exactly one dense conv/linear layer: OBS on that layer can compensate its removal."""
    from torch_pruning.pruner import function

    readers = {
        id(dep.target.module)
        for dep, _ in group
        if dep.pruning_fn in (function.prune_conv_in_channels, function.prune_linear_in_channels)
    }
    if len(readers) != 1:
        return False
    consumer = next(dep.target.module for dep, _ in group if id(dep.target.module) in readers)
    return getattr(consumer, "groups", 1) == 1 and not any(
        is_output_pruning(dep) and dep.target.module is consumer for dep, _ in group
    )


def consumer_of(group) -> tuple[nn.Module, list[int], list[int]]:
    """The consumer layer, and for each group channel its input-channel index there (idxs, roots)."""
    from torch_pruning.pruner import function

    for i, (dep, idxs) in enumerate(group):
        if dep.pruning_fn in (function.prune_conv_in_channels, function.prune_linear_in_channels):
            return dep.target.module, list(idxs), list(group[i].root_idxs)
    raise ValueError("group has no consumer")


@torch.no_grad()
def layer_hessian(model: nn.Module, layer: nn.Module, batches: list[torch.Tensor]) -> torch.Tensor:
    """H = 2 X Xᵀ / N over the layer's inputs on ``batches`` (a conv's inputs unfolded into columns)."""
    acc: dict[str, torch.Tensor] = {}

    def grab(_m, inputs):
        x = inputs[0].detach().double()
        if isinstance(layer, nn.ConvTranspose2d):
            cols = F.unfold(as_direct_input(layer, x), layer.kernel_size, layer.dilation)
            x = cols.transpose(1, 2).reshape(-1, cols.shape[1])
        elif isinstance(layer, nn.Conv2d):
            cols = F.unfold(x, layer.kernel_size, layer.dilation, layer.padding, layer.stride)
            x = cols.transpose(1, 2).reshape(-1, cols.shape[1])
        else:
            x = x.reshape(-1, x.shape[-1])
        acc["H"] = acc.get("H", 0) + 2 * x.T @ x
        acc["n"] = acc.get("n", 0) + x.shape[0]

    handle = layer.register_forward_pre_hook(grab)
    try:
        model.eval()
        for xb in batches:
            model(xb)
    finally:
        handle.remove()
    return acc["H"] / acc["n"]


def as_direct_input(layer: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """A transposed convolution is a direct one (stride 1, no padding, kernel ``direct_weight``) over its
    input with ``stride - 1`` zeros between pixels and ``dilation * (k - 1) - padding`` zeros around
    (plus ``output_padding`` at the far ends): the input whose unfolded columns give OBS its Hessian."""
    if layer.groups != 1:
        raise ValueError("a grouped transposed convolution is not a single OBS problem")
    n, c, h, w = x.shape
    (sh, sw), (kh, kw), (dh, dw) = layer.stride, layer.kernel_size, layer.dilation
    spread = x.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)
    spread[:, :, ::sh, ::sw] = x
    ph, pw = dh * (kh - 1) - layer.padding[0], dw * (kw - 1) - layer.padding[1]
    oh, ow = layer.output_padding
    return F.pad(spread, (pw, pw + ow, ph, ph + oh))


def direct_weight(layer: nn.Module, weight: torch.Tensor) -> torch.Tensor:
    """The (out, in, k, k) kernel of the direct form (a transposed convolution's, flipped and swapped);
    it is its own inverse, so it also maps a direct kernel back."""
    if isinstance(layer, nn.ConvTranspose2d):
        return weight.flip(2, 3).transpose(0, 1)
    return weight


def compress_layer(model, group, n: int, batches, cfg: OBCConfig) -> dict:
    """OBS on the group's consumer: choose ``n`` channels, compensate, and return what was chosen."""
    layer, idxs, roots = consumer_of(group)
    H = layer_hessian(model, layer, batches)
    conv = isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))
    block = int(torch.tensor(layer.kernel_size).prod()) if conv else 1
    direct = direct_weight(layer, layer.weight.detach())
    W = direct.reshape(direct.shape[0], -1)
    W_new, removed, errors = obs_remove(W, H, block, n, cfg.dampening)
    new = direct_weight(layer, W_new.reshape(direct.shape)).to(layer.weight.dtype)
    layer.weight.data.copy_(new)
    root_of = dict(zip(idxs, roots))
    return {"roots": sorted(root_of[c] for c in removed), "error": sum(errors)}


@register_method(
    "prune.obc",
    OBCConfig,
    kind="prune",
    label="Pruning (OBC)",
    amount=pruning_amount,
    prunes=channel_fraction,
    example={"ratio": 0.5, "calibration_samples": 64},
)
def prune_obc(model: nn.Module, cfg: OBCConfig, ctx: MethodContext) -> nn.Module:
    require_float(model, "prune.obc")
    model.eval()
    example = ctx.example_input()
    protected = kept_whole(model, cfg.protect, ctx, example)
    names = {id(m): n for n, m in model.named_modules()}
    ratio = cfg.ratio
    if ratio is None:
        ratio = ratio_for_macs(model, example, [names[id(m)] for m in protected], cfg.macs_target, single_consumer)
    ctx.notes["channel_ratio"] = ratio
    batches = calibration_images(ctx.data, cfg.calibration_samples, ctx.seed)
    before = count_flops(model, ctx.spec.shape)
    groups = FilterGroups.of(model, example, protected, single_consumer).required("prune.obc")
    order = {id(m): i for i, m in enumerate(model.modules())}
    graph_groups = sorted(
        (
            (g, tp_group)
            for g in groups.groups
            for tp_group in [groups.graph.get_pruning_group(g.root, g.root_fn, list(range(g.width)))]
        ),
        key=lambda pair: order.get(id(consumer_of(pair[1])[0]), 0),
    )
    errors = {}
    for g, tp_group in graph_groups:
        n = min(int(ratio * g.width), g.width - 1)
        if n <= 0:
            continue
        chosen = compress_layer(model, tp_group, n, batches, cfg)
        errors[names.get(id(consumer_of(tp_group)[0]), g.name)] = chosen["error"]
        groups.graph.get_pruning_group(g.root, g.root_fn, chosen["roots"]).prune()
    ctx.notes["obc_layers"] = len(errors)
    ctx.notes["obc_error"] = errors
    ctx.notes["macs_kept"] = count_flops(model, ctx.spec.shape) / before
    ctx.tune(model, cfg.finetune_epochs, "obc")
    return model.eval()
