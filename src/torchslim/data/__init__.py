"""Dataset registry: ``build_dataset(DatasetConfig(name=...))`` returns in-memory splits."""

from torchslim.data import embedded, imagefolder, torchvision_sets  # noqa: F401  (registers builders)
from torchslim.data.base import DATASETS, ArraySplit, DataBundle, DatasetConfig, DatasetInfo
from torchslim.data.loader import BatchLoader


def build_dataset(cfg: DatasetConfig) -> DataBundle:
    return DATASETS.get(cfg.name).builder(cfg)


__all__ = ["DATASETS", "ArraySplit", "BatchLoader", "DataBundle", "DatasetConfig", "DatasetInfo", "build_dataset"]
