"""Decoded datasets kept for the tasks of one process: tasks on the same dataset read it once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import torch

from torchslim.data import build_dataset
from torchslim.data.base import DataBundle, DatasetConfig


@dataclass
class DatasetCache:
    """Read-only splits by their config; a process pool's worker keeps its own across its tasks."""

    data: dict[str, DataBundle] = field(default_factory=dict)

    def dataset(self, cfg: DatasetConfig) -> DataBundle:
        key = cfg.model_dump_json()
        if key not in self.data:
            self.data[key] = build_dataset(cfg)
        return self.data[key]

    def decoded_bytes(self, configs: list[DatasetConfig]) -> int:
        """Decoded size of the in-memory datasets among ``configs`` (each worker holds its own copy)."""
        seen = {c.model_dump_json(): c for c in configs}
        total = 0
        for cfg in seen.values():
            d = self.dataset(cfg)
            total += sum(x.nbytes for x in (d.train.images, d.eval.images) if isinstance(x, torch.Tensor))
        return total  # a streamed dataset adds 0

    @staticmethod
    @cache
    def of_this_process() -> DatasetCache:
        """The cache a worker process's tasks share (a worker is sent its work without the driver's data)."""
        return DatasetCache()
