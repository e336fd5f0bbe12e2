from pathlib import Path

import pytest

from torchslim.data import DatasetConfig, build_dataset
from torchslim.methods import MethodContext
from torchslim.train import TrainConfig


@pytest.fixture(scope="session")
def synthetic_data():
    return build_dataset(DatasetConfig(name="synthetic", size=64))


@pytest.fixture(scope="session")
def digits_data():
    return build_dataset(DatasetConfig(name="digits"))


@pytest.fixture
def make_ctx(synthetic_data, tmp_path):
    def make(spec, data=None):
        return MethodContext(
            data or synthetic_data, spec, TrainConfig(epochs=1, batch_size=16, lr=0.01), 0, Path(tmp_path)
        )

    return make
