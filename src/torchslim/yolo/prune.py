"""Structured pruning of an Ultralytics detector through Torch-Pruning's dependency graph.

What is protected, and why:
- attention (Attention, PSA blocks, C2PSA): their forward reshapes by a head count and splits by a
  stored width, which Torch-Pruning does not update;
- in the head, only the final prediction convolutions (box and class) and the DFL: their widths are
  the output format (4 x reg_max box bins, nc classes). The head's hidden convolutions are pruned.

Pruning a level means removing that fraction of the channels of every prunable group (Torch-Pruning's
``pruning_ratio``, uniform), with the kept widths rounded to the *nearest* multiple of ``round_to``.
Odd widths (61 of 64) made low levels slower than the unpruned model in ONNX Runtime, whose blocked
convolution kernels pad them; Torch-Pruning's own rounding floors the kept width, which turns 5 % of
a 16-channel layer into 50 %.
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.backends.torch_pruning import make_importance, nearest_rounding_pruner
from torchslim.errors import TorchslimError

PROTECTED_TYPES = ("Attention", "AAttn", "PSABlock", "C2PSA", "PSA", "A2C2f")


def head_of(model: nn.Module) -> nn.Module:
    return model.model[-1]


def protected_modules(model: nn.Module) -> list[nn.Module]:
    """Attention blocks anywhere, plus the head's last convolution of every branch and its DFL."""
    out = [m for m in model.modules() if type(m).__name__ in PROTECTED_TYPES]
    head = head_of(model)
    for attr in ("cv2", "cv3", "one2one_cv2", "one2one_cv3", "cv4"):
        for branch in getattr(head, attr, None) or []:
            out.append(branch[-1])
    if isinstance(getattr(head, "dfl", None), nn.Module):
        out.append(head.dfl)
    return out


def detector_pruner(model: nn.Module, ratio: float, steps: int, imgsz: int, round_to: int | None = 8):
    """A Torch-Pruning pruner for ``model`` (its C2f blocks already split), L2 group importance."""
    for p in model.parameters():
        p.requires_grad_(True)
    try:
        return nearest_rounding_pruner()(
            model,
            torch.zeros(1, 3, imgsz, imgsz),
            importance=make_importance("l2"),
            pruning_ratio=ratio,
            iterative_steps=steps,
            ignored_layers=protected_modules(model),
            round_to=round_to,
        )
    except (RuntimeError, KeyError, ZeroDivisionError) as exc:
        raise TorchslimError(
            f"yolo pruning: Torch-Pruning cannot trace this detector "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        ) from None
