"""Calibration data: a fixed, seeded sample of the training split (never the evaluation split).

Static INT8, QAT and IDAP++'s scoring all draw from it, so the same seed gives the same images.
"""

from __future__ import annotations

import torch

from torchslim.data.base import ArraySplit
from torchslim.data.loader import BatchLoader
from torchslim.data.user_data import MissingSplit
from torchslim.errors import ConfigError, MissingDataError


def calibration_split(data) -> ArraySplit:
    """The images calibration and importance scores read: the calibration split when one was given
    (Python API), else the training split; neither given names both arguments."""
    if data.calibration is not None:
        return data.calibration
    if isinstance(data.train, MissingSplit):
        raise MissingDataError("calibration_data= or train_data=", "calibration and importance scoring")
    return data.train


def calibration_images(data, samples: int, seed: int, batch_size: int = 32) -> list[torch.Tensor]:
    """``samples`` normalised training images (no augmentation), in batches; the same for a seed."""
    split = calibration_split(data)
    n = min(samples, len(split))
    if n <= 0:
        raise ConfigError(
            f"calibration needs at least one image; calibration_samples={samples}, training split has {len(split)}"
        )
    return [x for x, _ in labelled_calibration(data, n, seed, batch_size)]


def labelled_calibration(
    data, samples: int, seed: int, batch_size: int = 32
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same images as :func:`calibration_images`, with their labels (a loss's Hessian needs them)."""
    split = calibration_split(data)
    n = max(1, min(samples, len(split)))
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    subset = ArraySplit(split.images[idx], split.labels[idx])
    return list(BatchLoader(subset, data.info, batch_size))
