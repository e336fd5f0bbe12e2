"""Image folders larger than memory: decoded batch by batch in ``DataLoader`` worker processes.

A folder whose decoded size is over ``dataset.memory_budget_gib`` is not decoded into one tensor.
Its split holds :class:`LazyImages` (the file list) instead, and :func:`stream_batches` hands each
batch of the loader's seeded order, with the augmentation draws the loader made for it, to a
DataLoader worker, which decodes and augments it. The draws are the in-memory path's, in the same
order, so a streamed epoch equals the in-memory one, straight through or resumed, with any number
of workers. Peak memory is a few batches per worker, whatever the folder's size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from torchslim.data.augment import apply_augment
from torchslim.errors import DataNotFoundError


@dataclass
class LazyImages:
    """The images of a split, decoded on demand: indexing decodes (a subset stays lazy with :meth:`subset`)."""

    files: list[Path]
    size: int
    mode: str  # "RGB" or "L"
    decode: Callable[[Path, int | None, str], np.ndarray]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3 if self.mode == "RGB" else 1, self.size, self.size)

    @property
    def nbytes(self) -> int:
        """Decoded size (what an in-memory split would hold); nothing of it is resident."""
        n, c, h, w = self.shape
        return n * c * h * w

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx: torch.Tensor) -> "LazyImages":
        return LazyImages([self.files[int(i)] for i in idx], self.size, self.mode, self.decode)

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, slice):
            idx = range(*idx.indices(len(self.files)))
        elif isinstance(idx, int):
            idx = [idx]
        arrays = [self.decode(self.files[int(i)], self.size, self.mode) for i in idx]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def decoded_parts(images: LazyImages, batch: int = 256) -> Iterator[torch.Tensor]:
    """Every image once, in order, a batch at a time (decoded by DataLoader workers), unaugmented."""
    from torchslim.data.base import Augment

    order = torch.arange(len(images))
    plans = [(order[i : i + batch], (None, None, None)) for i in range(0, len(images), batch)]
    for x, _ in stream_batches(images, torch.zeros(len(images), dtype=torch.int64), plans, Augment()):
        yield x


class _Batches(torch.utils.data.Dataset):
    """Batch ``b`` of one epoch: its images decoded and augmented (as the loader drew it) in a DataLoader worker."""

    def __init__(self, images: LazyImages, labels: torch.Tensor, plans: list, augment):
        self.images, self.labels, self.plans, self.augment = images, labels, plans, augment

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, b: int) -> tuple[np.ndarray, np.ndarray] | str:
        idx, draws = self.plans[b]
        try:
            images = self.images[idx]
        except DataNotFoundError as exc:  # its message, not the worker's traceback the loader would wrap it in
            return str(exc)
        # numpy out, not tensors: a tensor leaves a worker through a shared-memory segment, and the
        # workers' memory grew by every batch they had sent (0.3 to 1.0 GiB in 90 batches, measured)
        return apply_augment(images, self.augment, draws).numpy(), self.labels[idx].numpy()


#: a spawned worker imports torch (2-5 s here) before it decodes anything; in that time the driver decodes
#: a few thousand small images itself, so an epoch of fewer is decoded in process
WORKERS_FROM = 2048


def stream_batches(
    images: LazyImages, labels: torch.Tensor, plans: list, augment, workers: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield uint8 batches in order, decoded ahead by ``workers`` processes (default: the cores, at most 4;
    none for fewer than ``WORKERS_FROM`` images, which decode faster than a worker starts).
    ``plans`` holds each batch's indices and its augmentation draws."""
    if workers is None:
        images_in = sum(len(idx) for idx, _ in plans)
        workers = min(4, len(os.sched_getaffinity(0))) if images_in >= WORKERS_FROM else 0
    loader = torch.utils.data.DataLoader(
        _Batches(images, labels, plans, augment),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        prefetch_factor=2 if workers else None,
        # not fork: a worker forked from a training process keeps a private copy of every page the
        # trainer writes afterwards (copy-on-write), which doubled the peak memory of a streamed epoch
        multiprocessing_context="spawn" if workers else None,
        collate_fn=as_is,
    )
    for item in loader:
        if isinstance(item, str):
            raise DataNotFoundError(f"{item} (or set dataset.on_bad_image: skip)")
        x, y = item
        yield torch.from_numpy(x), torch.from_numpy(y)


def as_is(item):
    """Keep a worker's numpy batch as it is (the default would turn it into a shared-memory tensor)."""
    return item
