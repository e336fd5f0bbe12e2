"""Top-1, top-5 and mean loss on a split."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from torchslim.data.labels import class_indices
from torchslim.device import current, parameterized_on
from torchslim.errors import ConfigError
from torchslim.ui import console


@dataclass(frozen=True)
class Accuracy:
    top1: float  # percent
    top5: float  # percent
    loss: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@torch.no_grad()
def evaluate(model: nn.Module, loader, channels_last: bool = False) -> Accuracy:
    """On the task's device (see ``torchslim.device``); the model is back where it was afterwards."""
    device = current().device
    if parameterized_on(model, device):
        home = next(model.parameters()).device
        model.to(device)
        try:
            return _evaluate(model, loader, channels_last, torch.device(device))
        finally:
            model.to(home)
    return _evaluate(model, loader, channels_last, None)


def _evaluate(model: nn.Module, loader, channels_last: bool, device: torch.device | None) -> Accuracy:
    was_training = model.training
    model.eval()
    correct1 = correct5 = 0
    loss_sum, n, unfinite = 0.0, 0, 0
    for x, y in loader:
        y = class_indices(y)
        unfinite += int((~torch.isfinite(x.flatten(1))).any(dim=1).sum()) if x.is_floating_point() else 0
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        check_logits(logits, y)
        loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top.eq(y.view(-1, 1))
        correct1 += int(hits[:, 0].sum())
        correct5 += int(hits.any(dim=1).sum())
        n += len(y)
    model.train(was_training)
    if n == 0:
        raise ConfigError("nothing to evaluate: the data holds no images")
    if unfinite:
        console.print(
            f"[yellow]warning[/yellow] {unfinite} of {n} images hold NaN or infinite values: the accuracy "
            "counts predictions made from them"
        )
    return Accuracy(top1=100.0 * correct1 / n, top5=100.0 * correct5 / n, loss=loss_sum / n, n=n)


def check_logits(logits, y: torch.Tensor) -> None:
    """The model's output must be (batch, classes) logits that the labels index."""
    if not torch.is_tensor(logits):
        raise ConfigError(
            f"the model returns a {type(logits).__name__}; evaluating accuracy needs one (batch, classes) logits tensor"
        )
    if logits.dim() != 2 or len(logits) != len(y):
        raise ConfigError(
            f"the model returns {tuple(logits.shape)} for a batch of {len(y)} images; expected (batch, classes) logits"
        )
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= logits.shape[1]):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise ConfigError(
            f"label {bad} is outside the model's {logits.shape[1]} outputs (classes 0-{logits.shape[1] - 1})"
        )
