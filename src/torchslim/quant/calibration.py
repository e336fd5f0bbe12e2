"""Calibration data: a fixed, seeded sample of the training split (never the evaluation split)."""

from __future__ import annotations

import torch

from torchslim.errors import ConfigError


def calibration_images(data, samples: int, seed: int, batch_size: int = 32) -> list[torch.Tensor]:
    """``samples`` normalised training images (no augmentation), in batches; the same for a seed."""
    from torchslim.data import BatchLoader
    from torchslim.data.base import ArraySplit

    n = min(samples, len(data.train))
    if n <= 0:
        raise ConfigError(f"calibration needs at least one image; calibration_samples={samples}, "
                          f"training split has {len(data.train)}")
    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:n]
    subset = ArraySplit(data.train.images[idx], data.train.labels[idx])
    return [x for x, _ in BatchLoader(subset, data.info, batch_size)]


class TensorReader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of batches."""

    def __init__(self, input_name: str, batches: list[torch.Tensor]):
        self.input_name = input_name
        self._batches = batches
        self._it = iter(batches)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self.input_name: x.numpy()}

    def rewind(self) -> None:
        self._it = iter(self._batches)
