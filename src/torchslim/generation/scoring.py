"""A generator's score: FID (and KID) between its images and the test split, in a named feature space.

The feature space is the penultimate layer of a torchslim classifier (``generation.features``); every
figure is labelled with it ("FID (ResNet-20 features)") and is never called Inception FID. FID is given
as its mean and spread over ``sample_seeds``: each seed draws its own latents.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchslim.errors import ConfigError
from torchslim.export.checkpoint import read_model_file
from torchslim.generation.config import GenerationConfig
from torchslim.measurement.fid import FeatureStats, frechet_distance, kernel_distance, penultimate_features
from torchslim.models import load_model
from torchslim.models.base import SavedDescription


@dataclass
class FeatureSpace:
    """A classifier's penultimate layer, with the input normalisation it was trained with."""

    model: nn.Module
    mean: torch.Tensor
    std: torch.Tensor
    name: str

    @classmethod
    def load(cls, cfg: GenerationConfig) -> "FeatureSpace":
        path = Path(cfg.features)
        model, _ = load_model(path)
        stated = SavedDescription.of(read_model_file(path)[0], path).normalisation
        mean, std = (cfg.features_mean, cfg.features_std) if cfg.features_mean else (None, None)
        if mean is None and stated is not None:
            mean, std = stated.mean, stated.std
        if mean is None or std is None:
            raise ConfigError(
                f"generation.features: {path} states no input normalisation; give generation.features_mean "
                "and features_std (the mean and std it was trained with)"
            )
        name = cfg.features_name or SavedDescription.of(read_model_file(path)[0], path).model.name
        return cls(model.eval(), torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1), name)

    @property
    def label(self) -> str:
        return f"FID ({self.name} features)"

    def features(self, images01: torch.Tensor) -> np.ndarray:
        """Features of images in [0, 1] (float, N x C x H x W)."""
        return penultimate_features(self.model, (images01 - self.mean) / self.std)


def real_features(space: FeatureSpace, uint8_images: torch.Tensor) -> np.ndarray:
    return space.features(uint8_images.float() / 255.0)


@torch.no_grad()
def generate(generator: nn.Module, count: int, seed: int, batch_size: int = 500) -> torch.Tensor:
    """``count`` images in [0, 1] from latents drawn with ``seed`` (the same latents for every generator)."""
    generator.eval()
    g = torch.Generator().manual_seed(seed)
    net = getattr(generator, "reference", generator)  # a deployed ONNX file keeps the network it came from
    shape = tuple(net.latent_shape) if hasattr(net, "latent_shape") else None
    if shape is None:
        raise ConfigError(f"{type(generator).__name__} does not state its latent shape (latent_shape)")
    out = []
    for i in range(0, count, batch_size):
        z = torch.randn(min(batch_size, count - i), *shape, generator=g)
        out.append(((generator(z).clamp(-1, 1) + 1) / 2).float())
    return torch.cat(out)


def score_generator(
    generator: nn.Module, space: FeatureSpace, reference: np.ndarray, cfg: GenerationConfig
) -> dict[str, object]:
    """FID per sample seed (its mean and std), KID's mean, and the feature space's label, for the row."""
    ref = FeatureStats.of(reference)
    fids, kids = [], []
    for seed in cfg.sample_seeds:
        feats = space.features(generate(generator, cfg.samples, seed))
        fids.append(frechet_distance(FeatureStats.of(feats), ref))
        if cfg.kid:
            kids.append(kernel_distance(feats, reference, subsets=20, subset_size=min(1000, len(feats)), seed=seed))
    out: dict[str, object] = {
        "fid": statistics.fmean(fids),
        "fid_std": statistics.stdev(fids) if len(fids) > 1 else 0.0,
        "fid_per_seed": fids,
        "fid_samples": cfg.samples,
        "fid_reference_images": len(reference),
        "fid_features": space.label,
    }
    if kids:
        out |= {"kid": statistics.fmean(kids), "kid_std": statistics.stdev(kids) if len(kids) > 1 else 0.0}
    return out
