"""Information-flow divergence (IDAP): how much signal a layer, a filter or a block carries.

- Conv layer:   δ = ‖A‖_F · ‖W‖_F / (C·H·W), A the post-activation output map of one image.
- Linear layer: δ = ‖h‖₂ · ‖W‖_F, h the post-activation output of one sample (or token).
- Filter c:     s_c = ‖A_c‖_F · ‖W_c‖_F / (C·H·W); linear unit u: s_u = ‖h_u‖ · ‖W_u‖.
- Attention heads are scored through their units' scores (per-unit norms averaged over tokens),
  summed per head by Torch-Pruning; the per-head δ_h formula is not computed separately.
- A block's flow is the sum of δ over its layers.

Activation norms are averaged over a calibration set. "Post-activation" is found by execution
order: the activation module that consumes a layer's output (directly, or through its batch norm);
where none does (a residual branch's last conv before the addition), the normalised output is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from torchslim.backends.torch_pruning import is_output_pruning, output_channels_first

ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardsigmoid,
)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
#: the layers whose flow is recorded: a generator's transposed convolutions too (unscored, IDAP++ cut nothing
#: from a DCGAN generator: its four steps kept every MAC)
FLOW_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def conv_divergence(activation: torch.Tensor, weight: torch.Tensor) -> float:
    """δ of one conv layer for one image: activation (C, H, W), weight (C, C_in/g, k, k)."""
    c, h, w = activation.shape
    return float(activation.norm() * weight.norm() / (c * h * w))


def linear_divergence(hidden: torch.Tensor, weight: torch.Tensor) -> float:
    """δ of one linear layer for one sample: hidden (out,), weight (out, in)."""
    return float(hidden.norm() * weight.norm())


@dataclass
class LayerStats:
    """Running sums over the calibration set for one conv or linear layer."""

    samples: int = 0
    layer_norm_sum: float = 0.0  # Σ_n ‖A_n‖_F (per image; linear: per sample/token)
    channel_norm_sum: torch.Tensor | None = None  # Σ_n ‖A_n,c‖ per output channel / unit
    chw: int = 1  # C·H·W of the output map (linear: 1)

    def add(self, out: torch.Tensor, linear: bool = False) -> None:
        """``linear``: units on the last axis, whatever the rank (ConvNeXt's linears see N, H, W, C)."""
        out = out.detach().float()
        if out.dim() == 4 and not linear:  # conv: (N, C, H, W)
            n, c, h, w = out.shape
            self.chw = c * h * w
            per_channel = out.flatten(2).norm(dim=2)  # (N, C)
            per_sample = out.flatten(1).norm(dim=1)
        else:  # linear: (N, ..., out) -> rows are samples or tokens
            rows = out.reshape(-1, out.shape[-1])
            n = rows.shape[0]
            per_channel = rows.abs()
            per_sample = rows.norm(dim=1)
        self.samples += n
        self.layer_norm_sum += float(per_sample.sum())
        summed = per_channel.sum(0)
        self.channel_norm_sum = summed if self.channel_norm_sum is None else self.channel_norm_sum + summed


@dataclass
class FlowRecord:
    """Activation statistics of every conv / linear layer of a model over a calibration set."""

    stats: dict[nn.Module, LayerStats] = field(default_factory=dict)

    def layer_divergence(self, layer: nn.Module) -> float:
        s = self.stats.get(layer)
        if s is None or s.samples == 0:
            return 0.0
        return s.layer_norm_sum / s.samples * float(layer.weight.detach().norm()) / s.chw

    def filter_scores(self, layer: nn.Module) -> torch.Tensor | None:
        """s_c per output channel (conv) or unit (linear), averaged over the calibration set."""
        s = self.stats.get(layer)
        if s is None or s.channel_norm_sum is None:
            return None
        w = output_channels_first(layer, layer.weight.detach()).flatten(1).norm(dim=1)
        return (s.channel_norm_sum / s.samples) * w / s.chw

    def block_flow(self, block: nn.Module) -> float:
        return sum(self.layer_divergence(m) for m in block.modules() if m in self.stats)


@torch.no_grad()
def record_flow(model: nn.Module, batches: list[torch.Tensor]) -> FlowRecord:
    """Run the calibration batches once, collecting post-activation norms for every conv and linear."""
    record = FlowRecord()
    producer: dict[int, tuple[nn.Module, torch.Tensor]] = {}  # id(tensor) -> (its conv/linear, the tensor: kept
    # alive for the batch, so that its id cannot be reused by another tensor)
    pending: dict[nn.Module, torch.Tensor] = {}  # layer -> its latest output not yet passed through an activation
    hooks = []

    def on_layer(module, _inp, out):
        producer[id(out)] = (module, out)
        pending[module] = out

    def on_norm(module, inp, out):
        src = producer.get(id(inp[0]))
        if src is not None:
            producer[id(out)] = (src[0], out)
            pending[src[0]] = out

    def on_act(module, inp, out):
        src = producer.get(id(inp[0]))
        if src is not None:
            pending[src[0]] = out

    for m in model.modules():
        if isinstance(m, FLOW_LAYERS):
            record.stats[m] = LayerStats()
            hooks.append(m.register_forward_hook(on_layer))
        elif isinstance(m, NORMS):
            hooks.append(m.register_forward_hook(on_norm))
        elif isinstance(m, ACTIVATIONS):
            hooks.append(m.register_forward_hook(on_act))
    was_training = model.training
    model.eval()
    try:
        for x in batches:
            producer.clear()
            pending.clear()
            model(x)
            for layer, out in pending.items():
                record.stats[layer].add(out, linear=isinstance(layer, nn.Linear))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return record


class DivergenceImportance:
    """Torch-Pruning importance: a group's channels scored by the divergence of the layers that
    produce them (coupled producers, e.g. the convs of one residual stage, are summed)."""

    def __init__(self, record: FlowRecord):
        self.record = record

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor:
        total = None
        for i, (dep, idxs) in enumerate(group):
            if not is_output_pruning(dep):
                continue
            scores = self.record.filter_scores(dep.layer)
            root_idxs = group[i].root_idxs
            if scores is None or any(r is None for r in root_idxs):
                continue
            if total is None:
                total = torch.zeros(len(group[0][1]))
            total.scatter_add_(0, torch.tensor(root_idxs), scores[idxs].float())
        if total is None:  # no scored producer (e.g. a group rooted at an input-only layer): keep it
            total = torch.full((len(group[0][1]),), float("inf"))
        return total
