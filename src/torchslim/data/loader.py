"""A batch iterator over in-memory uint8 tensors, with batched augmentation, on the CPU or a GPU.

Why not ``torch.utils.data.DataLoader``: every dataset here is already one tensor in memory, so
per-sample ``__getitem__`` calls and worker processes only add overhead on a 2-core machine.
Shuffling and augmentation draw from a generator seeded by ``(seed, epoch)``, so an epoch is
identical whether it runs straight through or after a resume. On CUDA a split that fits stays on
the GPU; otherwise each batch is copied there; either way the random draws are the CPU's, so a
batch is the same on any device.
"""

from __future__ import annotations

from typing import Iterator

import torch

from torchslim.data.augment import apply_augment, draw_augment
from torchslim.data.base import ArraySplit, Augment, DatasetInfo
from torchslim.data.streaming import LazyImages, stream_batches


class BatchLoader:
    def __init__(
        self,
        split: ArraySplit,
        info: DatasetInfo,
        batch_size: int,
        train: bool = False,
        seed: int = 0,
        device: str = "cpu",
    ):
        self.split = split
        self.info = info
        self.batch_size = batch_size
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.augment = info.augment if train else Augment()
        self.device = torch.device(device)
        self.images, self.labels = split.images, split.labels
        self.streamed = isinstance(split.images, LazyImages)
        if self.device.type == "cuda" and not self.streamed and fits_on_device(split.images.nbytes, self.device):
            self.images, self.labels = split.images.to(self.device), split.labels.to(self.device)
        self._mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.split)
        order = torch.randperm(n, generator=g) if self.train else torch.arange(n)
        batches = [order[b * self.batch_size : (b + 1) * self.batch_size] for b in range(len(self))]
        if self.streamed:  # larger than memory: decoded and augmented in DataLoader workers
            # the same draws, in the same order, as in memory: a streamed epoch is the in-memory one
            plans = [(idx, draw_augment(len(idx), self.augment, g)) for idx in batches]
            for x, y in stream_batches(self.images, self.labels, plans, self.augment):
                yield self.normalize(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)
            return
        for idx in batches:
            x, y = self.images[idx.to(self.images.device)], self.labels[idx.to(self.labels.device)]
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            yield self.normalize(apply_augment(x, self.augment, draw_augment(len(idx), self.augment, g))), y

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.info.prescaled:
            return x
        return (x.float().div_(255.0) - self._mean) / self._std


def fits_on_device(nbytes: int, device: torch.device, share: float = 0.25) -> bool:
    """Whether a split's images may stay on the GPU: at most a quarter of its free memory."""
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= share * free
