"""Any ``root/<class>/<image>`` tree, decoded once into a cached uint8 tensor."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from rich.markup import escape

from torchslim.data.base import (
    DATASETS,
    ArraySplit,
    Augment,
    DataBundle,
    DatasetConfig,
    DatasetInfo,
    channel_stats,
    channel_stats_of_parts,
    default_cache_dir,
    stratified_split,
)
from torchslim.data.streaming import LazyImages, decoded_parts
from torchslim.errors import DataNotFoundError
from torchslim.ui import console

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def list_images(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    if not root.is_dir():
        raise DataNotFoundError(
            f"image folder '{root}' does not exist; expected {root}/<class>/<image>.jpg (one folder per class)"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((root / c).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if len(classes) < 2 or not files:
        raise DataNotFoundError(
            f"image folder '{root}' holds {len(classes)} class folders and {len(files)} images; "
            f"expected {root}/<class>/<image>.jpg with at least two classes"
        )
    return classes, files


def _decode(path: Path, size: int | None, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise DataNotFoundError(f"unreadable image {path}: {exc}; replace or remove it") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _cache_key(root: Path, files: list[tuple[Path, int]], size: int | None, mode: str) -> str:
    h = hashlib.sha1(f"{root.resolve()}|{size}|{mode}|{len(files)}".encode())
    for f, label in files:
        st = f.stat()
        h.update(f"{f.name}|{label}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_imagefolder(
    root: Path, size: int | None, cache_dir: Path | None, on_bad_image: str = "error", budget_gib: float = 4.0
) -> tuple[list[str], ArraySplit, list[Path]]:
    """Decode every image once; later calls read the cached tensor (loaded with weights_only).
    A folder decoding to more than ``budget_gib`` is not decoded here: its images stream (lazy).
    Returns the classes, the images and the unreadable files skipped (``on_bad_image: skip``)."""
    from PIL import Image

    classes, files = list_images(root)
    skip = on_bad_image == "skip"
    mode = None
    for path, _ in files:
        try:
            with Image.open(path) as first:
                mode = "L" if first.mode in ("L", "1", "I;16") else "RGB"
                size = size or (first.size[0] if first.size[0] == first.size[1] else min(first.size))
            break
        except (OSError, Image.DecompressionBombError) as exc:  # a bomb: more pixels than PIL will decode
            if not skip:
                raise DataNotFoundError(f"unreadable image {path}: {exc}; replace or remove it") from None
    if mode is None:
        raise DataNotFoundError(f"image folder '{root}': no readable image among {len(files)} files")
    channels = 1 if mode == "L" else 3
    if len(files) * channels * size * size > budget_gib * 2**30:
        console.print(
            f"{root}: {len(files):,} images decode to {len(files) * channels * size * size / 2**20:,.0f} MiB, over "
            f"dataset.memory_budget_gib {budget_gib:g}: streaming them through DataLoader workers"
        )
        skipped = unreadable_files(root, files, size, mode, cache_dir) if skip else []
        unreadable = set(skipped)  # once, not per file
        files = [(f, label) for f, label in files if f not in unreadable]
        for path in skipped:
            console.print(f"skipped unreadable image {escape(str(path))}")
        lazy = LazyImages([f for f, _ in files], size, mode, _decode)
        return classes, ArraySplit(lazy, torch.tensor([label for _, label in files], dtype=torch.int64)), skipped
    key = _cache_key(root, files, size, mode) + ("-skip" if skip else "")
    cache = (cache_dir or default_cache_dir()) / f"imagefolder-{key}.pt"
    if cache.exists():
        try:
            blob = torch.load(cache, weights_only=True)
            skipped = [root / p for p in blob.get("skipped", [])]
            return list(blob["classes"]), ArraySplit(blob["images"], blob["labels"]), skipped
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: decode again
            console.print(f"image cache {escape(str(cache))} is unreadable ({type(exc).__name__}); rebuilding it")
            cache.unlink(missing_ok=True)
    from rich.progress import track

    def decode(item: tuple[Path, int]) -> np.ndarray | None:
        try:
            return _decode(item[0], size, mode)
        except DataNotFoundError:
            if skip:
                return None
            raise

    with ThreadPoolExecutor(max_workers=4) as pool:
        arrays = list(
            track(
                pool.map(decode, files),
                total=len(files),
                description=f"decoding {root.name} (once; cached)",
                transient=True,
            )
        )
    skipped = [path for (path, _), a in zip(files, arrays) if a is None]
    kept = [(a, label) for (_, label), a in zip(files, arrays) if a is not None]
    for path in skipped:
        console.print(f"skipped unreadable image {escape(str(path))}")
    images = torch.from_numpy(np.stack([a for a, _ in kept])).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in kept], dtype=torch.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    rel = [str(p.relative_to(root)) for p in skipped]
    torch.save({"classes": classes, "images": images, "labels": labels, "skipped": rel}, tmp)
    tmp.replace(cache)
    return classes, ArraySplit(images, labels), skipped


def unreadable_files(
    root: Path, files: list[tuple[Path, int]], size: int, mode: str, cache_dir: Path | None
) -> list[Path]:
    """The files of a streamed folder that do not decode, found by decoding each once (``on_bad_image:
    skip``): a stream cannot drop an image mid-epoch without changing every later batch, so the bad ones
    leave the file list before the split. The list is cached by the folder's content, like a decoded one."""
    import json

    cache = (cache_dir or default_cache_dir()) / f"imagefolder-{_cache_key(root, files, size, mode)}-unreadable.json"
    if cache.exists():
        try:
            return [root / p for p in json.loads(cache.read_text())]
        except (OSError, ValueError):
            cache.unlink(missing_ok=True)
    from rich.progress import track

    def readable(item: tuple[Path, int]) -> bool:
        try:
            _decode(item[0], size, mode)
        except DataNotFoundError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        ok = list(
            track(
                pool.map(readable, files), total=len(files), description=f"checking {root.name} (once)", transient=True
            )
        )
    bad = [path for (path, _), good in zip(files, ok) if not good]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps([str(p.relative_to(root)) for p in bad]))
    tmp.replace(cache)
    return bad


@DATASETS.register_prefix("imagefolder", input_shape=(3, 32, 32))
def imagefolder(cfg: DatasetConfig) -> DataBundle:
    """imagefolder:PATH, any root/<class>/<image> tree, stratified train/val split."""
    root = Path(cfg.name.split(":", 1)[1]).expanduser()
    classes, data, skipped = load_imagefolder(
        root, cfg.image_size, cfg.cache_dir, cfg.on_bad_image, cfg.memory_budget_gib
    )
    tr, ev = stratified_split(data.labels, cfg.val_fraction, cfg.split_seed)
    if isinstance(data.images, LazyImages):
        train = ArraySplit(data.images.subset(tr), data.labels[tr])
        val = ArraySplit(data.images.subset(ev), data.labels[ev])
    else:
        train, val = ArraySplit(data.images[tr], data.labels[tr]), ArraySplit(data.images[ev], data.labels[ev])
    if isinstance(train.images, LazyImages):
        mean, std = channel_stats_of_parts(decoded_parts(train.images), train.images.shape[1])
    else:
        mean, std = channel_stats(train.images)
    test, test_note = None, ""
    if cfg.test_root is not None:
        test, test_note = test_split(cfg, classes, data.images.shape[-1])
    info = DatasetInfo(
        name=cfg.name,
        num_classes=len(classes),
        in_channels=data.images.shape[1],
        image_size=data.images.shape[-1],
        mean=mean,
        std=std,
        augment=Augment(pad=max(1, data.images.shape[-1] // 8), flip=True) if cfg.augment else Augment(),
        eval_split="val",
        split_note=f"stratified {len(train)} train / {len(val)} val split of {root} (split seed {cfg.split_seed})"
        + (f"; {len(skipped)} unreadable image(s) skipped" if skipped else ""),
        skipped_images=len(skipped),
        test_note=test_note,
    )
    return DataBundle(info, train, val, test=test)


def test_split(cfg: DatasetConfig, classes: list[str], size: int) -> tuple[ArraySplit, str]:
    """The separate test folder (``dataset.test_root``), decoded at the training images' size; its
    class folders must be the training root's, since labels are folder indices."""
    root = Path(cfg.test_root).expanduser()
    test_classes, test, skipped = load_imagefolder(root, size, cfg.cache_dir, cfg.on_bad_image, cfg.memory_budget_gib)
    if test_classes != classes:
        extra = sorted(set(test_classes) ^ set(classes))
        raise DataNotFoundError(
            f"test root '{root}' has classes {test_classes[:12]} but the training root has {classes[:12]}"
            + (f" (differing: {extra[:6]})" if extra else " (in another order)")
            + "; both need the same class folders"
        )
    note = f"test split: all {len(test)} images of {root}" + (
        f" ({len(skipped)} unreadable skipped)" if skipped else ""
    )
    return test, note
