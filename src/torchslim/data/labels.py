"""Labels as the losses and metrics read them: int64 class indices."""

from __future__ import annotations

import torch

from torchslim.errors import ConfigError


def class_indices(y) -> torch.Tensor:
    """Labels as int64 class indices; fractional labels are refused, not truncated."""
    y = torch.as_tensor(y)
    if y.is_floating_point():
        fractional = y[y != y.round()]
        if len(fractional):
            raise ConfigError(f"labels must be class indices; got the fractional label {float(fractional[0]):g}")
        y = y.long()
    return y
