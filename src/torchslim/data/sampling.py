"""Calibration data: a fixed, seeded sample of the training split (never the evaluation split).

Static INT8, QAT and IDAP++'s scoring all draw from it, so the same seed gives the same images.
"""

from __future__ import annotations

import torch

from torchslim.data.base import ArraySplit
from torchslim.data.loader import BatchLoader
from torchslim.errors import ConfigError


def calibration_images(data, samples: int, seed: int, batch_size: int = 32) -> list[torch.Tensor]:
    """``samples`` normalised training images (no augmentation), in batches; the same for a seed."""
    n = min(samples, len(data.train))
    if n <= 0:
        raise ConfigError(
            f"calibration needs at least one image; calibration_samples={samples}, training split has {len(data.train)}"
        )
    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:n]
    subset = ArraySplit(data.train.images[idx], data.train.labels[idx])
    return [x for x, _ in BatchLoader(subset, data.info, batch_size)]
