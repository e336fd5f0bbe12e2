"""The Python API over the model and data already in the user's hands.

``save``/``load`` keep any ``nn.Module`` as tensors plus plain data (never pickled code): a model of
a class no registry knows is rebuilt by the ``builder`` the user passes at load time, then its
pruned widths are re-applied from the file before the tensors are loaded. ``evaluate`` takes a
``Dataset``, a ``DataLoader`` or any iterable of ``(x, y)`` batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from torchslim.data.user_data import batches_of
from torchslim.errors import ConfigError
from torchslim.export.checkpoint import read_model_file, save_model
from torchslim.measurement.accuracy import Accuracy
from torchslim.measurement.accuracy import evaluate as evaluate_batches
from torchslim.models import fill, load_model

Data = torch.utils.data.Dataset | torch.utils.data.DataLoader | Iterable[tuple[torch.Tensor, torch.Tensor]]


def class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def save(model: nn.Module, path: str | Path, *, example_input: torch.Tensor | None = None) -> Path:
    """Write ``model`` (tensors, its widths as plain data, and what it is) to ``path``; returns the path.

    ``example_input`` records the input shape, so that measuring the file later needs no other input."""
    path = Path(path)
    shape = tuple(example_input.shape[1:]) if example_input is not None else None
    description: dict[str, Any] = {
        "model": {"name": None, "kwargs": {}, "class": class_path(model)},
        "input": {"num_classes": None, "in_channels": shape[0], "image_size": shape[-1]} if shape else None,
        "input_shape": list(shape) if shape else None,
    }
    save_model(model, path, description)
    return path


def load(path: str | Path, builder: Callable[[], nn.Module] | None = None) -> nn.Module:
    """The model saved at ``path``. A registry model rebuilds itself; any other class needs
    ``builder``: the class, or a function returning the unpruned model. Never unpickles code."""
    path = Path(path)
    description, arch, state = read_model_file(path)
    name = description.get("model", {}).get("name")
    if builder is None:
        if name:
            return load_model(path)[0]
        cls = description.get("model", {}).get("class", "a user class")
        raise ConfigError(
            f"{path} holds a {cls}, which no registry knows: pass builder=, the class or a function returning "
            f"the unpruned model, e.g. torchslim.load('{path}', builder={cls.rsplit('.', 1)[-1]})"
        )
    model = builder()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"builder returned a {type(model).__name__}, not an nn.Module")
    return fill(model, arch, state, f"{path}: its tensors do not fit the model the builder made")


def evaluate(model_or_path: nn.Module | str | Path, data: Data, *, builder=None, batch_size: int = 256) -> Accuracy:
    """Top-1, top-5, mean loss and image count of a model (or a saved file) on ``data``."""
    model = model_or_path if isinstance(model_or_path, nn.Module) else load(model_or_path, builder)
    return evaluate_batches(model, batches_of(data, batch_size))
