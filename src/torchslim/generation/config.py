"""The ``generation:`` section of a ``task: generate`` recipe: how generators are scored and distilled."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class GenerationConfig(BaseModel):
    """How a generator is scored (FID/KID in a classifier's feature space) and fine-tuned after compression."""

    model_config = ConfigDict(extra="forbid")

    features: Path = Field(
        ...,
        description="a torchslim classifier file (model.pt) whose penultimate layer is FID's feature space, "
        "e.g. the adapted ResNet-20 of the seed-004 comparison",
    )
    features_name: str = Field(
        "", description="how reports name the feature space, e.g. 'ResNet-20' (default: the file's model name)"
    )
    features_mean: list[float] | None = Field(
        None, description="the feature classifier's input mean, where its file does not state one"
    )
    features_std: list[float] | None = Field(None, description="its input std, given with features_mean")
    samples: int = Field(10000, ge=2, description="generated images per FID (the test split gives the reference)")
    sample_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, description="FID's spread")
    kid: bool = Field(True, description="also the kernel distance (KID) in the same feature space")
    latents_per_epoch: int = Field(
        50000, ge=1, description="latent vectors per distillation epoch (compressed generators' fine-tuning)"
    )
    pixel_weight: float = Field(1.0, ge=0, description="distillation: L1 between student and teacher images")
    feature_weight: float = Field(
        1.0, ge=0, description="distillation: MSE between the discriminator's features of both images"
    )
