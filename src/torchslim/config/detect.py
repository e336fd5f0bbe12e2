"""The recipe of a detector-pruning run (``task: detect``), validated like every torchslim config.

Pure pydantic: reading or checking this config never imports Ultralytics.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from torchslim.config import MeasureConfig
from torchslim.config.names import RunName
from torchslim.measurement.latency import BatchSizes


class SyntheticConfig(BaseModel):
    """Shapes on noise (torchslim.yolo.synthetic), written under the run folder when data is 'synthetic'."""

    model_config = ConfigDict(extra="forbid")

    train: int = Field(512, ge=1)
    val: int = Field(128, ge=1)
    imgsz: int = Field(160, ge=32)
    max_objects: int = Field(4, ge=1)
    seed: int = 0


class DetectTrainConfig(BaseModel):
    """Ultralytics trainer settings for the baseline and for every fine-tune."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(30, ge=1, description="training of the unpruned model from its starting point")
    imgsz: int = Field(160, ge=32, description="train and validation image size")
    batch: int = Field(16, ge=1)
    optimizer: str = Field("auto", description="Ultralytics' choice: 'auto' picks AdamW and its lr for short runs")
    lr0: float = Field(0.01, gt=0, description="initial lr (ignored by optimizer 'auto')")
    warmup_epochs: float = Field(1.0, ge=0)
    mosaic: float = Field(1.0, ge=0, le=1)
    close_mosaic: int = Field(2, ge=0)


class DetectPruneConfig(BaseModel):
    """Pruning levels and their schedule; every level starts from the trained unpruned model."""

    model_config = ConfigDict(extra="forbid")

    levels: list[float] = Field(
        default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75],
        min_length=1,
        description="fraction of the channels of every prunable group removed",
    )
    steps: int = Field(2, ge=1, description="iterative pruning: this many prune + fine-tune steps per level")
    finetune_epochs: int = Field(
        10,
        ge=0,
        description="fine-tuning epochs per level, split over the steps; the "
        "unpruned reference is fine-tuned the same number",
    )
    round_to: int | None = Field(
        8,
        gt=0,
        description="keep the nearest multiple of this many channels "
        "(odd widths run slower in ONNX Runtime); null = exact",
    )

    @field_validator("levels")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0.0 < v < 1.0]
        if bad:
            raise ValueError(f"levels are fractions in (0, 1), e.g. 0.3 for 30 %; got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"levels must be distinct, got {value}")
        return sorted(value)

    @model_validator(mode="after")
    def _whole_epochs_per_step(self) -> "DetectPruneConfig":
        if self.finetune_epochs % self.steps:
            raise ValueError(
                f"finetune_epochs ({self.finetune_epochs}) is split evenly over the {self.steps} step(s): "
                f"give a multiple of {self.steps}"
            )
        return self


class DetectMeasureConfig(MeasureConfig):
    """The classification recipe's ``measure:`` with image sizes: every checkpoint is timed side by side
    at each (seed 003's speedups are ratios, fair only when both sides are timed together)."""

    imgsz: list[int] = Field(default_factory=lambda: [640, 320], min_length=1)
    batch_sizes: BatchSizes = Field(default_factory=lambda: [2, 4, 8, 16], min_length=1)
    min_seconds: float = Field(0.5, gt=0, description="per model, runtime and batch size, in each round")

    @model_validator(mode="after")
    def _timed_side_by_side(self) -> "DetectMeasureConfig":
        if not (self.latency and self.compare):
            raise ValueError("a detector run times its checkpoints side by side: latency and compare stay true")
        return self

    def timed_shapes(self) -> list[tuple[int, ...]]:
        return [(3, size, size) for size in self.imgsz]


class DetectRunConfig(BaseModel):
    """Prune a YOLO detector at several levels, fine-tune, validate, time; seed 003's table."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[str] = "detect"

    task: str = Field("detect", pattern="^detect$")
    name: RunName = Field(..., description="names the run folder (runs/<name>): a plain name")
    model: str = Field("yolo11n.yaml", description="a model yaml, built from scratch")
    checkpoint: Path | None = Field(None, description="a torchslim detector artifact to start from instead")
    data: str = Field("synthetic", description="'synthetic' or the path of a YOLO data.yaml")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    seed: int = 0
    threads: int | None = Field(None, gt=0, description="torch threads (default: all cores)")
    train: DetectTrainConfig = Field(default_factory=DetectTrainConfig)
    prune: DetectPruneConfig = Field(default_factory=DetectPruneConfig)
    measure: DetectMeasureConfig = Field(default_factory=DetectMeasureConfig)
    output_dir: Path | None = Field(None, description="default: runs/<name>")
    store: Path = Field(Path("runs/torchslim.db"), description="SQLite results store")

    @property
    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / self.name
