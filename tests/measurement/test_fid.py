"""FID and KID: exact on Gaussians with a closed form, zero for a set against itself, and features
taken from the classifier's penultimate layer."""

import numpy as np
import pytest
import torch
from torch import nn

from torchslim.errors import TorchslimError
from torchslim.measurement.fid import FeatureStats, frechet_distance, kernel_distance, penultimate_features


def test_fid_of_diagonal_gaussians_matches_the_closed_form():
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    a = FeatureStats(mu_a, np.diag(var_a), 100)
    b = FeatureStats(mu_b, np.diag(var_b), 100)
    expected = ((mu_a - mu_b) ** 2).sum() + (var_a + var_b - 2 * np.sqrt(var_a * var_b)).sum()  # 5 + 1+1+4 = 11
    assert frechet_distance(a, b) == pytest.approx(expected, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), abs=1e-9)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_a_shift():
    x = np.random.default_rng(0).normal(size=(2000, 16))
    same = FeatureStats.of(x)
    assert frechet_distance(same, same) == pytest.approx(0.0, abs=1e-6)
    shifted = FeatureStats.of(x + 0.5)
    assert frechet_distance(same, shifted) == pytest.approx(16 * 0.25, rel=1e-6)  # only the means moved


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    assert abs(kernel_distance(x, y, subsets=10, subset_size=300)) < 0.02
    assert kernel_distance(x, y + 1.0, subsets=10, subset_size=300) > 0.5


def test_penultimate_features_are_the_last_linear_layers_input():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    images = torch.randn(7, 3, 8, 8)
    feats = penultimate_features(model, images, batch_size=3)
    assert feats.shape == (7, 4)
    np.testing.assert_allclose(feats, model[:4](images).detach().double().numpy(), atol=1e-6)


def test_a_model_without_a_linear_layer_is_refused_in_one_line():
    with pytest.raises(TorchslimError, match="no linear layer"):
        penultimate_features(nn.Conv2d(3, 4, 3), torch.randn(2, 3, 8, 8))
    with pytest.raises(TorchslimError, match="at least 2 feature vectors"):
        FeatureStats.of(np.zeros((1, 4)))
