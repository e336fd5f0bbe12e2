"""The recipe of an image-generation run (``task: generate``): a classification-shaped recipe (models x
seeds x method chains) whose models are generators, trained adversarially (``gan:``) and scored by FID
(``generation:``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from torchslim.config import MeasureConfig, RunConfig
from torchslim.generation.config import GenerationConfig
from torchslim.train.gan import GanTrainConfig


class GenerateRunConfig(RunConfig):
    """Train a generator, compress it with the registered methods, score each by FID in a named feature space."""

    kind: ClassVar[str] = "generate"
    models_for: ClassVar[str] = "generate"

    task: Literal["generate"] = "generate"
    gan: GanTrainConfig = Field(default_factory=GanTrainConfig, description="the baseline's adversarial training")
    generation: GenerationConfig
    measure: MeasureConfig = Field(default_factory=lambda: MeasureConfig(batch_sizes=[64]))

    @model_validator(mode="after")
    def _needs_a_test_split(self) -> "GenerateRunConfig":
        if self.dataset.test_root is None:
            raise ValueError("dataset.test_root is required: FID compares generated images with the test split's")
        return self

    def kind_sections(self) -> dict[str, Any]:
        return {"gan": self.gan, "generation": self.generation}

    def kind_files(self) -> dict[str, Path]:
        return {"features": Path(self.generation.features)}

    def kind_settings(self) -> dict[str, Any]:
        return {"task": "generate", "gan": json.loads(self.gan.model_dump_json())} | {
            "generation": json.loads(self.generation.model_dump_json(exclude={"features"}))
        }
