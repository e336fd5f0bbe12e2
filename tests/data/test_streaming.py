"""A folder over the memory budget streams through DataLoader workers, batch for batch the in-memory epoch."""

import numpy as np
import pytest
import torch
from PIL import Image

from torchslim.data import BatchLoader, DatasetConfig, build_dataset
from torchslim.data.streaming import LazyImages
from torchslim.errors import DataNotFoundError


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls in range(3):
        (tmp_path / "imgs" / f"c{cls}").mkdir(parents=True)
        for i in range(20):
            img = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "imgs" / f"c{cls}" / f"{i}.png")
    return tmp_path / "imgs"


def bundle(folder, tmp_path, budget):
    cfg = DatasetConfig(name=f"imagefolder:{folder}", memory_budget_gib=budget, cache_dir=tmp_path / "cache")
    return build_dataset(cfg)


@pytest.mark.parametrize(
    "train,workers_from",
    [(True, 0), (True, 10**9), pytest.param(False, 0, marks=pytest.mark.e2e)],  # eval split: `make test-e2e`
    ids=["train-in-workers", "train-in-process", "eval-in-workers"],
)
def test_a_streamed_epoch_is_the_in_memory_epoch(folder, tmp_path, train, workers_from, monkeypatch):
    """Decoded in spawned workers (forced: 60 images are below the size that earns them) or in process."""
    monkeypatch.setattr("torchslim.data.streaming.WORKERS_FROM", workers_from)
    in_memory, streamed = bundle(folder, tmp_path, 4.0), bundle(folder, tmp_path, 1e-6)
    assert isinstance(streamed.train.images, LazyImages) and isinstance(in_memory.train.images, torch.Tensor)
    assert streamed.info.mean == in_memory.info.mean and streamed.info.std == in_memory.info.std
    split = "train" if train else "eval"
    a = BatchLoader(getattr(in_memory, split), in_memory.info, 4, train=train, seed=3)
    b = BatchLoader(getattr(streamed, split), streamed.info, 4, train=train, seed=3)
    for epoch in (0, 1):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        pairs = list(zip(a, b, strict=True))
        assert len(pairs) == len(a) > 1
        for (xa, ya), (xb, yb) in pairs:
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_a_streamed_split_holds_no_decoded_images(folder, tmp_path):
    streamed = bundle(folder, tmp_path, 1e-6)
    lazy = streamed.train.images
    assert lazy.shape == (len(streamed.train), 3, 12, 12) and lazy.nbytes == len(streamed.train) * 3 * 12 * 12
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing decoded into a cache either


def test_a_streamed_folder_skips_unreadable_images_before_the_split(folder, tmp_path):
    (folder / "c1" / "broken.png").write_bytes(b"not an image")
    cfg = dict(name=f"imagefolder:{folder}", memory_budget_gib=1e-6, cache_dir=tmp_path / "cache")
    # the default, on_bad_image: error: one line, found when the channel statistics are computed
    words = r"^unreadable image .*broken.png: .*; replace or remove it \(or set dataset.on_bad_image: skip\)$"
    with pytest.raises(DataNotFoundError, match=words):
        build_dataset(DatasetConfig(**cfg))
    streamed = build_dataset(DatasetConfig(**cfg, on_bad_image="skip"))
    assert isinstance(streamed.train.images, LazyImages)
    assert streamed.info.skipped_images == 1 and len(streamed.train) + len(streamed.eval) == 60
    assert all(f.name != "broken.png" for f in streamed.train.images.files + streamed.eval.images.files)
    for x, _ in BatchLoader(streamed.train, streamed.info, 64):  # a whole epoch decodes
        assert x.shape[1:] == (3, 12, 12)
    assert list((tmp_path / "cache").glob("*-unreadable.json"))  # the scan is kept for the next run
    again = build_dataset(DatasetConfig(**cfg, on_bad_image="skip"))
    assert again.info.skipped_images == 1 and len(again.train) == len(streamed.train)
