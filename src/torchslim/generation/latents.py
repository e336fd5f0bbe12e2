"""What methods see of a generation task: latent vectors in place of images.

Pruning's dependency graph, calibration, OBC's layer inputs and the fine-tuning loop all read
``MethodContext.data``; for a generator that data is a fixed, seeded set of latents (served as given,
never normalised or augmented), with no evaluation split: the score is FID, computed by the task.
"""

from __future__ import annotations

import torch

from torchslim.data.base import ArraySplit, Augment, DataBundle, DatasetInfo
from torchslim.data.user_data import MissingSplit
from torchslim.models.base import InputSpec


def latent_bundle(spec: InputSpec, count: int, seed: int, calibration: int = 512) -> DataBundle:
    """``count`` standard-normal latents of ``spec``'s shape (the generator's input), the same for a seed."""
    g = torch.Generator().manual_seed(10_000 + seed)
    z = torch.randn(count, *spec.shape, generator=g)
    info = DatasetInfo(
        name="latents",
        num_classes=spec.num_classes,
        in_channels=spec.in_channels,
        image_size=spec.image_size,
        mean=(0.0,) * spec.in_channels,
        std=(1.0,) * spec.in_channels,
        augment=Augment(),
        eval_split="FID",
        split_note=f"{count} latent vectors N(0, 1) of shape {tuple(spec.shape)}, seed {seed}",
        prescaled=True,
    )
    labels = torch.zeros(count, dtype=torch.long)
    cal = ArraySplit(z[:calibration], labels[:calibration])
    return DataBundle(
        info, ArraySplit(z, labels), MissingSplit("an evaluation split", "generation (scored by FID)"), cal
    )


def generator_spec(model_kwargs: dict, channels: int) -> InputSpec:
    """A generator's input: its latent (``nz`` x 1 x 1), making ``channels``-channel images."""
    return InputSpec(num_classes=channels, in_channels=int(model_kwargs.get("nz", 100)), image_size=1)
