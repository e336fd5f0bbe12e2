"""Dataset registry: ``build_dataset(DatasetConfig(name=...))`` returns in-memory splits."""

from dataclasses import replace

from torchslim.data import embedded, imagefolder, torchvision_sets  # noqa: F401  (registers builders)
from torchslim.data.base import DATASETS, ArraySplit, DataBundle, DatasetConfig, DatasetInfo
from torchslim.data.loader import BatchLoader
from torchslim.errors import ConfigError


def build_dataset(cfg: DatasetConfig) -> DataBundle:
    """The splits of ``cfg``; a stated ``mean``/``std`` (a pretrained checkpoint's normalisation)
    replaces the statistics of the training split."""
    if cfg.test_root is not None and DATASETS.split(cfg.name)[0] != "imagefolder":
        raise ConfigError(
            f"dataset.test_root is for image folders (name: imagefolder:PATH); '{cfg.name}' brings its own "
            "evaluation split: remove test_root"
        )
    data = DATASETS.get(cfg.name).builder(cfg)
    if cfg.mean is not None:
        if len(cfg.mean) != data.info.in_channels:
            raise ConfigError(
                f"dataset.mean has {len(cfg.mean)} values; '{cfg.name}' has {data.info.in_channels} channel(s)"
            )
        data.info = replace(data.info, mean=tuple(cfg.mean), std=tuple(cfg.std))
    return data


__all__ = ["DATASETS", "ArraySplit", "BatchLoader", "DataBundle", "DatasetConfig", "DatasetInfo", "build_dataset"]
