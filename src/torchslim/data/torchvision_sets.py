"""Standard torchvision datasets, read from a local root with downloading disabled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from torchslim.data.base import DATASETS, ArraySplit, Augment, DataBundle, DatasetConfig, DatasetInfo, channel_stats
from torchslim.errors import DataNotFoundError


@dataclass(frozen=True)
class TorchvisionSet:
    cls_name: str
    expected: str  # the files torchvision looks for, shown when they are missing
    augment: Augment


SETS = {
    "mnist": TorchvisionSet("MNIST", "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte", Augment(pad=2)),
    "fashion-mnist": TorchvisionSet(
        "FashionMNIST", "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte", Augment(pad=2, flip=True)
    ),
    "cifar10": TorchvisionSet(
        "CIFAR10", "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}", Augment(pad=4, flip=True)
    ),
    "cifar100": TorchvisionSet("CIFAR100", "cifar-100-python/{train,test,meta}", Augment(pad=4, flip=True)),
}


def _load(name: str, cfg: DatasetConfig, train: bool) -> ArraySplit:
    import torchvision.datasets as tvd

    spec = SETS[name]
    if cfg.root is None:
        raise DataNotFoundError(
            f"dataset '{name}' needs dataset.root: a local folder holding {spec.expected} (downloading is disabled)"
        )
    try:
        ds = getattr(tvd, spec.cls_name)(root=str(cfg.root), train=train, download=False)
    except (RuntimeError, FileNotFoundError, OSError) as exc:
        raise DataNotFoundError(
            f"dataset '{name}': no usable files under '{cfg.root}'; expected {spec.expected} "
            f"(downloading is disabled) [{type(exc).__name__}]"
        ) from None
    data = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    images = torch.from_numpy(data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return ArraySplit(images.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64))


def _make(name: str):
    spec = SETS[name]

    def build(cfg: DatasetConfig) -> DataBundle:
        train, test = _load(name, cfg, True), _load(name, cfg, False)
        mean, std = channel_stats(train.images)
        info = DatasetInfo(
            name=name,
            num_classes=int(train.labels.max()) + 1,
            in_channels=train.images.shape[1],
            image_size=train.images.shape[-1],
            mean=mean,
            std=std,
            augment=spec.augment if cfg.augment else Augment(),
            eval_split="test",
            split_note=f"official split: {len(train)} train / {len(test)} test",
        )
        return DataBundle(info, train, test)

    build.__doc__ = f"torchvision {spec.cls_name}, read from dataset.root (no download)"
    return build


SIZES = {"mnist": (10, 60_000), "fashion-mnist": (10, 60_000), "cifar10": (10, 50_000), "cifar100": (100, 50_000)}
for _name in SETS:
    shape = (1, 28, 28) if "mnist" in _name else (3, 32, 32)
    DATASETS.register(_name, input_shape=shape, classes=SIZES[_name][0], train_images=SIZES[_name][1])(_make(_name))
