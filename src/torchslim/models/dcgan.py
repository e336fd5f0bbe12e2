"""DCGAN for 32x32 images (Radford et al. 2016): transposed-convolution generator, strided-convolution
discriminator, batch norm in both except the generator's output and the discriminator's input layer.

The generator's input is a latent vector shaped ``(nz, 1, 1)`` (``latent_shape``), not an image; the
generation task kind gives methods that example input. Widths are the paper's 4-2-1 ladder of ``ngf``
/ ``ndf`` (64 by default: 1.07 M generator parameters at 32x32).
"""

from __future__ import annotations

import torch
from torch import nn

from torchslim.models.base import MODELS, InputSpec


class DCGANGenerator(nn.Module):
    """z (nz x 1 x 1) -> 4x4 -> 8x8 -> 16x16 -> 32x32 image in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3, image_size: int = 32):
        super().__init__()
        if image_size != 32:
            raise ValueError(f"this DCGAN makes 32x32 images, not {image_size}x{image_size}")
        self.nz = nz

        def up(cin: int, cout: int, stride: int, pad: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.net = nn.Sequential(
            *up(nz, ngf * 4, 1, 0),
            *up(ngf * 4, ngf * 2, 2, 1),
            *up(ngf * 2, ngf, 2, 1),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
        init_weights(self)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.nz, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """32x32 image -> 16x16 -> 8x8 -> 4x4 -> one logit (real vs generated)."""

    def __init__(self, ndf: int = 64, channels: int = 3):
        super().__init__()

        def down(cin: int, cout: int, norm: bool) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
            return layers + ([nn.BatchNorm2d(cout)] if norm else []) + [nn.LeakyReLU(0.2, True)]

        self.net = nn.Sequential(
            *down(channels, ndf, norm=False),
            *down(ndf, ndf * 2, norm=True),
            *down(ndf * 2, ndf * 4, norm=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
            nn.Flatten(),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def init_weights(model: nn.Module) -> None:
    """The paper's initialisation: convolutions N(0, 0.02), batch-norm scales N(1, 0.02), shifts 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


#: the input a generator is tested at: a 100-long latent, making 3-channel images (``num_classes`` is the
#: image's channel count, so the output layer is found and kept whole like a classifier's head)
LATENT_SPEC = InputSpec(num_classes=3, in_channels=100, image_size=1)


@MODELS.register("dcgan", default_dataset="cifar10", task="generate", default_spec=LATENT_SPEC)
def dcgan(spec: InputSpec, ngf: int = 64, image_size: int = 32, nz: int | None = None) -> nn.Module:
    """DCGAN generator for 32x32 images (Radford et al. 2016): latent (nz x 1 x 1) -> image in [-1, 1]."""
    if nz is not None and nz != spec.in_channels:
        raise ValueError(f"nz {nz} differs from the latent's length {spec.in_channels}")
    return DCGANGenerator(nz=spec.in_channels, ngf=ngf, channels=spec.num_classes, image_size=image_size)
