"""The caller's own data (Python API): any ``Dataset``, ``DataLoader`` or iterable of ``(x, y)`` batches.

It is gathered once into float tensors and served through the same ``BatchLoader`` as the built-in
datasets, so every method (fine-tuning, Taylor importance, calibration, QAT, KD, IDAP++) reads it
unchanged. The images are taken as given: already normalised, never augmented (``prescaled``). A
split the caller did not pass is a ``MissingSplit``: the first method that touches it fails with
one line naming the argument that would have supplied it.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from torchslim.data.base import ArraySplit, Augment, DataBundle, DatasetInfo
from torchslim.data.labels import class_indices
from torchslim.errors import ConfigError, MissingDataError


class MissingSplit:
    """A split that was not given; touching it raises ``MissingDataError`` naming the argument."""

    missing = True

    def __init__(self, argument: str, purpose: str):
        self.argument, self.purpose = argument, purpose

    def _missing(self):
        raise MissingDataError(self.argument, self.purpose)

    def __len__(self) -> int:
        self._missing()

    @property
    def images(self):
        self._missing()

    @property
    def labels(self):
        self._missing()


def batches_of(data: Any, batch_size: int = 256) -> Iterable:
    """``(x, y)`` batches from a map-style Dataset (batched here), a DataLoader, or an iterable of batches."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    return data


def gather(data: Any, argument: str, any_targets: bool = False) -> ArraySplit:
    """All of ``data`` as one float image tensor and one int64 label tensor; with ``any_targets`` (the
    caller's own loss reads them), the targets as given: masks, boxes as a padded tensor, ..."""
    xs, ys = [], []
    for i, item in enumerate(batches_of(data)):
        if not (isinstance(item, (tuple, list)) and len(item) >= 2 and torch.is_tensor(item[0])):
            raise ConfigError(
                f"{argument}: batch {i} is a {type(item).__name__}, not an (images, labels) pair of tensors"
            )
        if any_targets:
            x, y = item[0], item[1]
            if x.dim() != 4 or not torch.is_tensor(y) or len(x) != len(y):
                raise ConfigError(
                    f"{argument}: batch {i} has images {tuple(x.shape)} and targets that are not one tensor with a "
                    "row per image; expected (N, C, H, W) images and (N, ...) targets"
                )
            xs.append(x.detach().float().cpu())
            ys.append(y.detach().cpu())
            continue
        x, y = item[0], class_indices(item[1])
        if x.dim() != 4 or y.dim() != 1 or len(x) != len(y):
            raise ConfigError(
                f"{argument}: batch {i} has images {tuple(x.shape)} and labels {tuple(y.shape)}; "
                "expected (N, C, H, W) images and (N,) class indices"
            )
        xs.append(x.detach().float().cpu())
        ys.append(y.detach().cpu())
    if not xs:
        raise ConfigError(f"{argument} is empty")
    return ArraySplit(torch.cat(xs), torch.cat(ys))


def user_bundle(
    example_input: torch.Tensor,
    num_classes: int,
    train_data: Any = None,
    eval_data: Any = None,
    calibration_data: Any = None,
    any_targets: bool = False,
) -> DataBundle:
    """A ``DataBundle`` over the caller's data, shaped by ``example_input`` (N, C, H, W); ``any_targets``:
    the training targets are the caller's loss's, not class indices."""
    c, h, w = example_input.shape[1:]
    if h != w:
        raise ConfigError(f"example_input is {h}x{w}: torchslim's input spec is square for now; resize to {h}x{h}")
    splits = {
        "train": gather(train_data, "train_data", any_targets)
        if train_data is not None
        else MissingSplit("train_data= (or finetune=, your own loop, for plain fine-tuning)", "training"),
        "eval": gather(eval_data, "eval_data") if eval_data is not None else MissingSplit("eval_data=", "evaluation"),
    }
    calibration = gather(calibration_data, "calibration_data", any_targets) if calibration_data is not None else None
    for name, split in list(splits.items()) + [("calibration", calibration)]:
        if isinstance(split, ArraySplit) and tuple(split.images.shape[1:]) != (c, h, w):
            raise ConfigError(f"{name}_data images are {tuple(split.images.shape[1:])}, example_input is {(c, h, w)}")
    info = DatasetInfo(
        name="user data",
        num_classes=num_classes,
        in_channels=c,
        image_size=h,
        mean=(0.0,) * c,
        std=(1.0,) * c,
        augment=Augment(),
        eval_split="eval_data",
        split_note="the caller's own data (Python API)",
        prescaled=True,
    )
    return DataBundle(info, splits["train"], splits["eval"], calibration=calibration)
