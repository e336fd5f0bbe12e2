"""DCGAN at 32x32: shapes, the paper's initialisation, and outputs in the image range."""

import pytest
import torch

from torchslim.measurement.complexity import count_params
from torchslim.models import MODELS, build_model, classifier_names, default_input
from torchslim.models.dcgan import DCGANDiscriminator, DCGANGenerator


def test_the_generator_maps_a_latent_to_a_32x32_image_in_the_tanh_range():
    g = DCGANGenerator().eval()
    assert g.latent_shape == (100, 1, 1)
    images = g(torch.randn(4, *g.latent_shape))
    assert images.shape == (4, 3, 32, 32)
    assert images.abs().max() <= 1.0
    assert count_params(g)[0] == 1_068_928  # 100x256x16 + 256x128x16 + 128x64x16 + 64x3x16 + 2 x (256+128+64) BN


def test_the_discriminator_gives_one_logit_per_image():
    d = DCGANDiscriminator()
    assert d(torch.randn(5, 3, 32, 32)).shape == (5,)


def test_initialisation_follows_the_paper():
    torch.manual_seed(0)
    g = DCGANGenerator()
    w = g.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    assert abs(g.net[1].weight.mean().item() - 1.0) < 0.01 and g.net[1].bias.abs().max() == 0


def test_another_image_size_is_refused():
    with pytest.raises(ValueError, match="32x32"):
        DCGANGenerator(image_size=64)


def test_the_registry_builds_the_generator_for_its_latent_and_keeps_it_off_the_classifier_lists():
    spec = default_input("dcgan")
    assert spec.shape == (100, 1, 1) and MODELS.get("dcgan").meta["task"] == "generate"
    g = build_model({"name": "dcgan", "kwargs": {"ngf": 8}}, spec).eval()
    assert g(torch.randn(2, *spec.shape)).shape == (2, 3, 32, 32)
    assert "dcgan" in MODELS.names() and "dcgan" not in classifier_names()
