"""One generation task's parts, as ``task_execution`` calls them: train the baseline generator with its
discriminator, prepare what methods see (latents, the distillation loss), and score a generator.

The discriminator is stored beside the baseline (``discriminator.pt``, plain tensors): a chain's
distillation reads its features. The FID reference (the test split's features) is computed once per
process and feature space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn
from torchvision.utils import save_image

from torchslim.data.base import DataBundle
from torchslim.errors import ConfigError, TorchslimError
from torchslim.export.checkpoint import read_checkpoint, save_atomic
from torchslim.generation.config import GenerationConfig
from torchslim.generation.distillation import discriminator_features, distillation_loss
from torchslim.generation.latents import generator_spec, latent_bundle
from torchslim.generation.scoring import FeatureSpace, generate, real_features, score_generator
from torchslim.models import InputSpec, build_model
from torchslim.models.dcgan import DCGANDiscriminator
from torchslim.train.gan import GanTrainConfig, fit_gan

DISCRIMINATOR = "discriminator.pt"
_REFERENCE: dict[tuple, tuple[FeatureSpace, np.ndarray]] = {}  # (features file, test images) -> space, features


def spec_for(model_kwargs: dict, data: DataBundle) -> InputSpec:
    """The generator's input (its latent); its images must be the data's (the model fits the data)."""
    size = int(model_kwargs.get("image_size", 32))
    if size != data.info.image_size:
        raise ConfigError(
            f"the generator makes {size}x{size} images, the dataset's are {data.info.image_size}x"
            f"{data.info.image_size} (set dataset.image_size or the model's image_size)"
        )
    return generator_spec(model_kwargs, data.info.in_channels)


def train_baseline(
    model_cfg, data: DataBundle, spec: InputSpec, gan: GanTrainConfig, seed: int, folder: Path
) -> tuple[nn.Module, dict]:
    """Train a generator and its discriminator adversarially; keep the discriminator for distillation."""
    generator = build_model(model_cfg, spec)
    discriminator = DCGANDiscriminator(ndf=gan.ndf, channels=spec.num_classes)
    result = fit_gan(generator, discriminator, data, gan, seed, checkpoint=folder / "checkpoint.pt")
    save_atomic({"discriminator": discriminator.state_dict()}, folder / DISCRIMINATOR)
    return generator, {
        "epochs": gan.epochs,
        "train_seconds": result.train_seconds,
        "resumed_from_epoch": result.resumed_from_epoch,
        "gan_history": result.history,
        "train_images_per_second": sum(h["images"] for h in result.history)
        / max(sum(h["seconds"] for h in result.history), 1e-9),
    }


def method_data(spec: InputSpec, cfg: GenerationConfig, seed: int) -> DataBundle:
    """The latents methods fine-tune and calibrate on."""
    return latent_bundle(spec, cfg.latents_per_epoch, seed)


def tuning_loss(teacher: nn.Module, baseline_folder: Path, spec: InputSpec, cfg: GenerationConfig, ndf: int):
    """Distillation from the original generator: pixels, and the baseline's discriminator's features."""
    path = baseline_folder / DISCRIMINATOR
    if not path.is_file():
        raise TorchslimError(f"the baseline's discriminator is not at {path}; rerun the baseline with --force")
    disc = DCGANDiscriminator(ndf=ndf, channels=spec.num_classes)
    disc.load_state_dict(read_checkpoint(path)["discriminator"])
    return distillation_loss(teacher, discriminator_features(disc), cfg.pixel_weight, cfg.feature_weight)


def save_samples(generator: nn.Module, path: Path, count: int = 64, seed: int = 0) -> None:
    """A grid of ``count`` samples from fixed latents: the same latents for every generator of a run."""
    save_image(generate(generator, count, seed), path, nrow=8)


def score(generator: nn.Module, data: DataBundle, cfg: GenerationConfig) -> dict:
    """FID/KID against the test split (``dataset.test_root``), in the configured feature space."""
    if data.test is None:
        raise ConfigError("a generation task needs dataset.test_root: FID compares with the test split's images")
    key = (str(Path(cfg.features).resolve()), cfg.features_name, len(data.test), int(data.test.images[:64].sum()))
    if key not in _REFERENCE:
        space = FeatureSpace.load(cfg)
        _REFERENCE[key] = (space, real_features(space, data.test.images))
    space, reference = _REFERENCE[key]
    return score_generator(generator, space, reference, cfg)
