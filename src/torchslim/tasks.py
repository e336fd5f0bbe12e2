"""A recipe expands into independent tasks: one model x dataset x method chain x seed.

A task carries its whole resolved config and writes only inside its own folder, so an executor
may run tasks in-process, in a process pool or on a cluster without shared state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchslim.config import RunConfig, task_hash
from torchslim.data.base import DatasetConfig
from torchslim.models.base import ModelConfig
from torchslim.train.config import TrainConfig

BASELINE = "baseline"


@dataclass(frozen=True)
class Task:
    run_name: str
    model: ModelConfig
    dataset: DatasetConfig
    train: TrainConfig
    seed: int
    run_dir: Path
    method_chain: str = BASELINE
    source: str = ""

    def payload(self) -> dict[str, Any]:
        """Everything that determines the result, except the seed: the store's config hash."""
        return {
            "model": json.loads(self.model.model_dump_json()),
            "dataset": json.loads(self.dataset.model_dump_json(exclude={"cache_dir"})),
            "train": json.loads(self.train.model_dump_json()),
            "methods": self.method_chain,
        }

    @property
    def config_hash(self) -> str:
        return task_hash(self.payload())

    @property
    def key(self) -> tuple:
        return (self.config_hash, self.model.label, self.dataset.name, self.method_chain, self.seed)

    @property
    def folder(self) -> Path:
        safe = self.model.label.replace(":", "-").replace("/", "-")
        return self.run_dir / "tasks" / f"{safe}__{self.method_chain}__seed{self.seed}__{self.config_hash[:8]}"

    def describe(self) -> str:
        return f"{self.model.label} | {self.dataset.name} | {self.method_chain} | seed {self.seed}"


def expand(cfg: RunConfig, source: str = "") -> list[Task]:
    return [
        Task(cfg.name, m, cfg.dataset, cfg.train, seed, cfg.run_dir, source=source)
        for m in cfg.models
        for seed in cfg.seeds
    ]
