"""A sweep: many runs (datasets x models x seeds) in one file, one task graph and one store.

Each entry of ``runs`` becomes one run config: ``base`` merged with the entry, its dataset read
from the local root the user names in ``roots`` (nothing is downloaded). The runs share the store,
so a baseline that two runs share is trained once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from torchslim.config.names import RunName


class SweepRun(BaseModel):
    model_config = ConfigDict(extra="allow")

    dataset: str | dict[str, Any] = Field(..., description="a dataset name, or its full dataset section")
    models: list[Any] = Field(..., min_length=1)


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep: RunName = Field(..., description="the sweep's name: each run is <sweep>_<dataset>")
    roots: dict[str, Path] = Field(default_factory=dict, description="local root of each dataset, by name")
    base: dict[str, Any] = Field(default_factory=dict, description="settings every run shares (seeds, train, ...)")
    runs: list[SweepRun] = Field(..., min_length=1)
    store: Path = Field(Path("runs/torchslim.db"), description="the SQLite store all the runs share")

    def members(self) -> list[dict[str, Any]]:
        """Each run as a raw run config (validated by the caller like any config file)."""
        from torchslim.config import merge

        out = []
        for run in self.runs:
            entry = run.model_dump()
            dataset = entry.pop("dataset")
            dataset = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
            if dataset["name"] in self.roots and "root" not in dataset:
                dataset["root"] = str(self.roots[dataset["name"]])
            raw = merge(self.base, entry) | {"dataset": dataset, "store": str(self.store)}
            raw.setdefault("name", f"{self.sweep}_{dataset['name']}")
            out.append(raw)
        return out
