"""A batch iterator over in-memory uint8 tensors, with batched augmentation.

Why not ``torch.utils.data.DataLoader``: every dataset here is already one tensor in memory, so
per-sample ``__getitem__`` calls and worker processes only add overhead on a 2-core machine.
Shuffling and augmentation draw from a generator seeded by ``(seed, epoch)``, so an epoch is
identical whether it runs straight through or after a resume.
"""

from __future__ import annotations

from typing import Iterator

import torch

from torchslim.data.base import ArraySplit, Augment, DatasetInfo


class BatchLoader:
    def __init__(
        self,
        split: ArraySplit,
        info: DatasetInfo,
        batch_size: int,
        train: bool = False,
        seed: int = 0,
    ):
        self.split = split
        self.info = info
        self.batch_size = batch_size
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.augment = info.augment if train else Augment()
        self._mean = torch.tensor(info.mean).view(1, -1, 1, 1)
        self._std = torch.tensor(info.std).view(1, -1, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.split)
        order = torch.randperm(n, generator=g) if self.train else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.split.images[idx]
            if self.augment.pad:
                x = random_crop(x, self.augment.pad, g)
            if self.augment.flip:
                flip = torch.rand(len(idx), generator=g) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            yield self.normalize(x), self.split.labels[idx]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float().div_(255.0) - self._mean) / self._std


def random_crop(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and take a random crop of the original size, per sample, vectorised."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    rows = (dy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w)
    return padded[torch.arange(n).view(n, 1, 1, 1), torch.arange(c).view(1, c, 1, 1), rows, cols]
