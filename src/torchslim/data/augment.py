"""Batched augmentation, in two halves: the random draws (on the CPU, from the loader's seeded
generator) and their application (on any device, in any process), so that a batch is the same
whether it is augmented in memory, on a GPU, or in a DataLoader worker of a streamed folder."""

from __future__ import annotations

import torch

from torchslim.data.base import Augment

AugmentDraws = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]  # crop dy, dx; flips


def draw_augment(n: int, augment: Augment, g: torch.Generator) -> AugmentDraws:
    """The random draws of one batch (crop offsets, then flips), on the CPU: the same batch anywhere."""
    dy = dx = flip = None
    if augment.pad:
        dy = torch.randint(0, 2 * augment.pad + 1, (n,), generator=g)
        dx = torch.randint(0, 2 * augment.pad + 1, (n,), generator=g)
    if augment.flip:
        flip = torch.rand(n, generator=g) < 0.5
    return dy, dx, flip


def apply_augment(x: torch.Tensor, augment: Augment, draws: AugmentDraws) -> torch.Tensor:
    """Random crop after zero padding, then random horizontal flips, as drawn."""
    dy, dx, flip = draws
    if dy is not None:
        x = random_crop(x, augment.pad, dy.to(x.device), dx.to(x.device))
    if flip is not None:
        x = torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)
    return x


def random_crop(x: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Zero-pad by ``pad`` and take the crop at offsets (dy, dx) of the original size, per sample, vectorised."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (dy.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    n_idx, c_idx = torch.arange(n, device=x.device).view(n, 1, 1, 1), torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[n_idx, c_idx, rows, cols]
