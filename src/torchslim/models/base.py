"""The model registry and what a builder receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from torchslim.errors import CheckpointError
from torchslim.registry import Registry

MODELS: Registry = Registry("model")


@dataclass(frozen=True)
class InputSpec:
    """What a model must adapt to: the dataset's class count, channels and image size."""

    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)


# Builder arguments with which torchvision or timm read a file or fetch weights: weights come only
# through ``checkpoint:`` and ``pretrained:``, so a config or a model file cannot name a file to open.
FILE_KWARGS = frozenset(
    {
        "weights",
        "weights_backbone",
        "progress",
        "pretrained",
        "pretrained_cfg",
        "pretrained_cfg_overlay",
        "checkpoint_path",
        "cache_dir",
    }
)


class ModelConfig(BaseModel):
    """A ``models:`` entry: a registry name, or a mapping with a local checkpoint and kwargs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    checkpoint: Path | None = Field(None, description="local state-dict file, loaded with weights_only=True")
    pretrained: bool = Field(
        False, description="torchvision/timm weights from their local caches (TORCH_HOME, HF cache); never downloaded"
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="extra builder arguments")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> "ModelConfig":
        if self.pretrained and self.checkpoint is not None:
            raise ValueError("give checkpoint: or pretrained: true, not both")
        opening = sorted(FILE_KWARGS & self.kwargs.keys())
        if opening:
            raise ValueError(
                f"kwargs {', '.join(opening)} would make the library open a file or the network; give weights "
                "with checkpoint: PATH or pretrained: true (read from the local caches only)"
            )
        return self

    @property
    def label(self) -> str:
        """The name, plus builder kwargs and pretrained when given: ``quant_cnv[act_bits=2,weight_bits=2]``."""
        parts = [f"{k}={v}" for k, v in sorted(self.kwargs.items())] + (["pretrained"] if self.pretrained else [])
        return f"{self.name}[{','.join(parts)}]" if parts else self.name


class SavedInput(BaseModel):
    """The input a saved model was built for, as its file states it (bounded: a file is untrusted)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    num_classes: int | None = Field(None, ge=1, le=1_000_000)
    in_channels: int = Field(ge=1, le=4096)
    image_size: int = Field(ge=1, le=16384)


class SavedNormalisation(BaseModel):
    """The per-channel input mean and std a saved model was trained with, where the config stated them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mean: list[float] = Field(min_length=1, max_length=4096)
    std: list[float] = Field(min_length=1, max_length=4096)


class SavedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    class_: str | None = Field(None, alias="class")


class SavedDescription(BaseModel):
    """The description stored beside a model's tensors, checked before anything is built from it."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: SavedModel
    input: SavedInput | None = None
    input_shape: list[int] | None = None
    normalisation: SavedNormalisation | None = None

    @classmethod
    def of(cls, description: dict, path: Any) -> "SavedDescription":
        try:
            return cls.model_validate(description)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise CheckpointError(f"{path}: its description.{where} is invalid ({err['msg']})") from None
