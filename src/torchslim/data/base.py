"""What every dataset builder returns, and the options a config may give it.

Every dataset in torchslim is small enough to hold in memory as a ``uint8`` tensor (N, C, H, W).
Decoding happens once (and is cached on disk for image folders); augmentation and normalisation
run batched on tensors, so an epoch never decodes an image again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator


class DatasetConfig(BaseModel):
    """The ``dataset:`` section of a config."""

    model_config = ConfigDict(extra="forbid")

    name: str = "mnist5k"
    root: Path | None = Field(None, description="local data root (torchvision sets); never downloaded")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="held-out share for image folders")
    split_seed: int = Field(0, description="seed of the fixed stratified split")
    image_size: int | None = Field(None, gt=0, description="resize image-folder images to this size")
    augment: bool = True
    cache_dir: Path | None = Field(None, description="where decoded image folders are cached")
    memory_budget_gib: float = Field(
        4.0, gt=0, description="an image folder decoding to more than this streams through DataLoader workers"
    )
    on_bad_image: Literal["error", "skip"] = Field(
        "error", description="an unreadable image in an image folder: stop naming it, or skip it (counted)"
    )
    test_root: Path | None = Field(
        None,
        description="an image folder's separate test split (root/<class>/<image>, the same classes): final "
        "figures are measured on it, while settings are chosen on the val split carved from the training root",
    )
    mean: tuple[float, ...] | None = Field(
        None,
        description="per-channel input mean the weights expect (a pretrained checkpoint's); default: the "
        "training split's",
    )
    std: tuple[float, ...] | None = Field(None, description="per-channel input std, given with mean")

    @model_validator(mode="after")
    def _normalisation(self) -> "DatasetConfig":
        if (self.mean is None) != (self.std is None):
            raise ValueError(
                "give mean and std together (e.g. mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])"
            )
        if self.std is not None and (len(self.std) != len(self.mean) or min(self.std) <= 0):
            raise ValueError(
                f"std needs one positive value per channel of mean ({len(self.mean)}), got {list(self.std)}"
            )
        return self

    # synthetic only
    shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = Field(10, gt=1)
    size: int = Field(512, gt=0)


@dataclass(frozen=True)
class Augment:
    """Batched augmentation: random crop after zero padding, optional horizontal flip."""

    pad: int = 0
    flip: bool = False

    def describe(self) -> str:
        parts = [f"random crop (pad {self.pad})"] if self.pad else []
        parts += ["horizontal flip"] if self.flip else []
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: Augment
    eval_split: str  # "test" or "val": which split accuracy is reported on
    split_note: str
    skipped_images: int = 0  # unreadable images left out (image folders with on_bad_image: skip)
    prescaled: bool = False  # float images already normalised by the caller (Python API): served as given
    test_note: str = ""  # where the separate test split comes from (dataset.test_root), if there is one

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)


@dataclass
class ArraySplit:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class DataBundle:
    info: DatasetInfo
    train: ArraySplit
    eval: ArraySplit
    calibration: ArraySplit | None = None  # images for calibration and importance; default: the training split
    test: ArraySplit | None = None  # a separate test split (image folders with test_root): final figures only

    @property
    def has_eval(self) -> bool:
        """False when the caller of the Python API passed no ``eval_data`` (see ``data.user_data``)."""
        return not getattr(self.eval, "missing", False)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, scaled to [0, 1], computed in float64."""
    return channel_stats_of_parts([images], images.shape[1])


def channel_stats_of_parts(parts, c: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The same, over images given a batch at a time (a streamed folder is never whole in memory)."""
    mean = torch.zeros(c, dtype=torch.float64)
    sq = torch.zeros(c, dtype=torch.float64)
    n = 0
    for part in parts:
        flat = part.transpose(0, 1).reshape(c, -1)
        n += flat.shape[1]
        for start in range(0, flat.shape[1], 1 << 24):
            chunk = flat[:, start : start + (1 << 24)].double() / 255.0
            mean += chunk.sum(1)
            sq += (chunk * chunk).sum(1)
    mean /= n
    std = (sq / n - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def stratified_split(labels: torch.Tensor, eval_size: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a fixed, stratified train/eval split (scikit-learn's implementation)."""
    from sklearn.model_selection import train_test_split

    counts = torch.bincount(labels)
    present = counts[counts > 0]
    if len(present) and int(present.min()) < 2:
        small = [int(c) for c in torch.nonzero((counts > 0) & (counts < 2)).flatten()]
        raise ConfigError(
            f"class {small[0]} has a single image: a stratified split needs at least 2 per class "
            f"({len(small)} such class(es)); add images or remove the class folder"
        )
    idx = torch.arange(len(labels)).numpy()
    try:
        tr, ev = train_test_split(idx, test_size=eval_size, stratify=labels.numpy(), random_state=seed)
    except ValueError as exc:
        raise ConfigError(
            f"cannot split {len(labels)} images of {len(present)} classes with an evaluation share of "
            f"{eval_size}: every class needs an image on each side ({exc}); "
            f"raise dataset.val_fraction to at least {len(present) / len(labels):.3g}"
        ) from None
    return torch.as_tensor(sorted(tr)), torch.as_tensor(sorted(ev))


def default_cache_dir() -> Path:
    return Path(os.environ.get("TORCHSLIM_CACHE", Path.home() / ".cache" / "torchslim"))


from torchslim.errors import ConfigError  # noqa: E402
from torchslim.registry import Registry  # noqa: E402  (kept beside the types it returns)

DATASETS: Registry = Registry("dataset")


def tree_fingerprint(root: Path) -> str:
    """A digest of every file below ``root`` by relative name and bytes (not its path, nor its
    modification times): results are keyed by what the data is, so an overwritten folder is not served
    stale, and the same images copied afresh (a new clone, a re-mounted share) keep their results.
    Each file's digest is remembered in the cache folder by its size and modification time, so only
    new or changed files are read again."""
    root = Path(root)
    where = hashlib.sha1(str(root.resolve()).encode()).hexdigest()
    memo_path = default_cache_dir() / "fingerprints" / f"{where}.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}  # none yet, or unreadable: read every file again
    h, fresh = hashlib.sha256(), {}
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        name, st = f.relative_to(root).as_posix(), f.stat()
        seen = memo.get(name)
        if isinstance(seen, list) and seen[:2] == [st.st_size, st.st_mtime_ns]:
            digest = seen[2]
        else:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
        fresh[name] = [st.st_size, st.st_mtime_ns, digest]
        h.update(f"{name}|{st.st_size}|".encode() + bytes.fromhex(digest))
    if fresh != memo:
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(fresh))
            tmp.replace(memo_path)
        except OSError:
            pass  # a read-only cache only costs the reading next time
    return h.hexdigest()[:16]


def data_fingerprint(cfg: DatasetConfig) -> str | None:
    """The content fingerprint of a dataset read from a local folder; None for embedded and synthetic
    data (their content is fixed by the installed libraries and the config)."""
    prefix, rest = DATASETS.split(cfg.name)
    root = Path(rest) if prefix == "imagefolder" else cfg.root
    prints = [tree_fingerprint(r) for r in (root, cfg.test_root) if r is not None and Path(r).is_dir()]
    return "+".join(prints) or None
