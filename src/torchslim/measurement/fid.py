"""Fréchet distance (FID) and kernel distance (KID) between two image sets, in a named feature space.

The usual Inception-v3 weights cannot be fetched here, so the features are the penultimate layer of a
CIFAR-10 classifier torchslim trained or adapted: the figure is "FID (ResNet-20 features)", never
"Inception FID", and it is comparable only with figures in the same feature space. The matrix square
root is SciPy's (``scipy.linalg.sqrtm``); nothing of the linear algebra is written here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import nn

from torchslim.errors import TorchslimError


@dataclass(frozen=True)
class FeatureStats:
    """What FID needs of a set: the mean and covariance of its features (float64), and their count."""

    mean: np.ndarray
    cov: np.ndarray
    n: int

    @classmethod
    def of(cls, features: np.ndarray) -> "FeatureStats":
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[0] < 2:
            raise TorchslimError(f"FID needs at least 2 feature vectors of one length, got shape {f.shape}")
        return cls(f.mean(axis=0), np.cov(f, rowvar=False), f.shape[0])


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)): the Fréchet distance of two Gaussians.

    A tiny imaginary part from round-off is dropped; a singular product gets the usual small
    diagonal offset first (as the reference implementation does)."""
    diff = a.mean - b.mean
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            root = scipy.linalg.sqrtm(a.cov @ b.cov)
            ok = bool(np.isfinite(root).all())
        except scipy.linalg.LinAlgWarning:  # singular: fewer samples than feature dimensions, say
            ok = False
    if not ok:
        eps = 1e-6 * np.eye(a.cov.shape[0])
        root = scipy.linalg.sqrtm((a.cov + eps) @ (b.cov + eps))
    root = root.real if np.iscomplexobj(root) else root
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * np.trace(root))


def kernel_distance(x: np.ndarray, y: np.ndarray, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> float:
    """KID: the unbiased MMD² with the cubic polynomial kernel k(u, v) = (u·v / d + 1)³, averaged over
    random subsets (Bińkowski et al. 2018). Unbiased, so two samples of one distribution give about 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    d = x.shape[1]
    m = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        xs, ys = x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = ((xs @ xs.T / d + 1) ** 3, (ys @ ys.T / d + 1) ** 3, (xs @ ys.T / d + 1) ** 3)
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off - 2.0 * kxy.mean())
    return float(np.mean(values))


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier's last linear layer: its input is the penultimate feature vector."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TorchslimError(
            f"{type(model).__name__} has no linear layer: FID's features are the input of a classifier's last one"
        )
    return linears[-1]


@torch.no_grad()
def penultimate_features(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """The input of ``model``'s last linear layer for each image (already normalised as it expects)."""
    layer = last_linear(model)
    caught: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, inputs, _out: caught.append(inputs[0].detach().flatten(1)))
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(images), batch_size):
            model(images[i : i + batch_size])
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(caught).double().numpy()
