"""The model registry and what a builder receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
        return self

    @property
    def label(self) -> str:
        """The name, plus builder kwargs and pretrained when given: ``quant_cnv[act_bits=2,weight_bits=2]``."""
        parts = [f"{k}={v}" for k, v in sorted(self.kwargs.items())] + (["pretrained"] if self.pretrained else [])
        return f"{self.name}[{','.join(parts)}]" if parts else self.name
