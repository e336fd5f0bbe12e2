"""Adversarial training of a generator and its discriminator (DCGAN's recipe), checkpointed every epoch.

The non-saturating loss of Goodfellow et al. with Adam (lr 2e-4, beta1 0.5) as Radford et al. train
DCGAN. Latent vectors and the data order are drawn from generators seeded by ``(seed, epoch)``, so a
run killed after any epoch resumes from its checkpoint to the same weights as one straight run.
Images arrive from ``BatchLoader`` normalised to [-1, 1] (the dataset's mean and std are 0.5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from torchslim.data import BatchLoader, DataBundle
from torchslim.errors import TrainingDivergedError
from torchslim.export.checkpoint import read_checkpoint, save_atomic
from torchslim.train.determinism import epoch_seed
from torchslim.ui import training_progress


class GanTrainConfig(BaseModel):
    """Settings of adversarial training (DCGAN's defaults)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(25, ge=0, description="passes over the training images")
    batch_size: int = Field(128, ge=2)
    lr: float = Field(2e-4, gt=0, description="Adam's step size for both networks")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam's first-moment decay (0.5 steadies GAN training)")
    ndf: int = Field(64, ge=1, description="the discriminator's width (its first layer's filters)")


@dataclass
class GanResult:
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    train_seconds: float = 0.0


def fit_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: DataBundle,
    cfg: GanTrainConfig,
    seed: int,
    checkpoint: Path | None = None,
) -> GanResult:
    """Train both networks in place on ``data.train``'s images (labels unused); resume from ``checkpoint``."""
    adam = {"lr": cfg.lr, "betas": (cfg.beta1, 0.999)}
    opt_g, opt_d = (
        torch.optim.Adam(generator.parameters(), **adam),
        torch.optim.Adam(discriminator.parameters(), **adam),
    )
    loader = BatchLoader(data.train, data.info, cfg.batch_size, train=True, seed=seed)
    result = GanResult()
    start = _resume(checkpoint, (generator, discriminator, opt_g, opt_d), result)
    bce = nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    with training_progress(cfg.epochs * len(loader), start * len(loader)) as bar:
        for epoch in range(start, cfg.epochs):
            stats = _epoch((generator, discriminator, opt_g, opt_d), loader, epoch, seed, bce, bar)
            result.history.append(stats)
            bar.note(
                f"epoch {epoch + 1}/{cfg.epochs}  D loss {stats['d_loss']:.3f}  G loss {stats['g_loss']:.3f}  "
                f"{stats['images'] / max(stats['seconds'], 1e-9):.0f} img/s  {stats['seconds']:.0f} s"
            )
            if checkpoint is not None:
                blob = {
                    "generator": generator.state_dict(),
                    "discriminator": discriminator.state_dict(),
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(),
                    "epochs_done": epoch + 1,
                    "history": result.history,
                }
                save_atomic(blob, checkpoint)
    result.train_seconds = time.perf_counter() - t0
    generator.eval()
    discriminator.eval()
    return result


def _epoch(nets, loader: BatchLoader, epoch: int, seed: int, bce, bar) -> dict[str, float]:
    generator, discriminator, opt_g, opt_d = nets
    generator.train()
    discriminator.train()
    loader.set_epoch(epoch)
    latents = torch.Generator().manual_seed(epoch_seed(seed + 7919, epoch))  # apart from the data order's stream
    nz = generator.latent_shape
    d_sum = g_sum = 0.0
    seen = 0
    t0 = time.perf_counter()
    for step, (real, _) in enumerate(loader):
        n = len(real)
        fake = generator(torch.randn(n, *nz, generator=latents))
        ones, zeros = torch.ones(n), torch.zeros(n)
        d_loss = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
        _finite(d_loss, "D", epoch, step)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = bce(discriminator(fake), ones)  # non-saturating: the generator maximises log D(G(z))
        _finite(g_loss, "G", epoch, step)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        d_sum += float(d_loss.detach()) * n
        g_sum += float(g_loss.detach()) * n
        seen += n
        bar.advance(f"ep {epoch + 1} D {d_sum / seen:.3f} G {g_sum / seen:.3f}")
    return {
        "epoch": epoch + 1,
        "d_loss": d_sum / max(seen, 1),
        "g_loss": g_sum / max(seen, 1),
        "images": seen,
        "seconds": time.perf_counter() - t0,
    }


def _finite(loss: torch.Tensor, which: str, epoch: int, step: int) -> None:
    """Stop before a non-finite loss reaches the weights (the last checkpoint stays good)."""
    if not torch.isfinite(loss):
        raise TrainingDivergedError(
            f"GAN training diverged at epoch {epoch + 1}, step {step + 1}: {which} loss is "
            f"{float(loss.detach())}; lower the lr"
        )


def _resume(checkpoint: Path | None, nets, result: GanResult) -> int:
    if checkpoint is None or not checkpoint.exists():
        return 0
    blob = read_checkpoint(checkpoint)
    generator, discriminator, opt_g, opt_d = nets
    generator.load_state_dict(blob["generator"])
    discriminator.load_state_dict(blob["discriminator"])
    opt_g.load_state_dict(blob["opt_g"])
    opt_d.load_state_dict(blob["opt_d"])
    result.history = list(blob["history"])
    result.resumed_from_epoch = int(blob["epochs_done"])
    return result.resumed_from_epoch
