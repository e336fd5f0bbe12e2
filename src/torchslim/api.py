"""The Python API over the model and data already in the user's hands.

``save``/``load`` keep any ``nn.Module`` as tensors plus plain data (never pickled code): a model of
a class no registry knows is rebuilt by the ``builder`` the user passes at load time, then its
pruned widths are re-applied from the file before the tensors are loaded. ``evaluate`` takes a
``Dataset``, a ``DataLoader`` or any iterable of ``(x, y)`` batches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from torchslim.data import BatchLoader, DatasetConfig, DatasetInfo, build_dataset
from torchslim.data.user_data import batches_of
from torchslim.errors import ConfigError
from torchslim.export.checkpoint import read_model_file, save_model
from torchslim.export.onnx import checked_session
from torchslim.measurement.accuracy import Accuracy
from torchslim.measurement.accuracy import evaluate as evaluate_batches
from torchslim.models import InputSpec, ModelConfig, build_model, fill, load_model
from torchslim.models.base import SavedDescription
from torchslim.runtimes.deployed import OnnxModel

Data = torch.utils.data.Dataset | torch.utils.data.DataLoader | Iterable[tuple[torch.Tensor, torch.Tensor]]


def class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def save(model: nn.Module, path: str | Path, *, example_input: torch.Tensor | None = None) -> Path:
    """Write ``model`` (tensors, its widths as plain data, and what it is) to ``path``; returns the path.

    ``example_input`` records the input shape, so that measuring the file later needs no other input."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"save: '{path}' is a folder; give a file path such as '{path / 'model.pt'}'")
    shape = tuple(example_input.shape[1:]) if example_input is not None else None
    save_model(model, path, user_description(model, shape))
    return path


def user_description(model: nn.Module, shape: tuple | None, num_classes: int | None = None) -> dict[str, Any]:
    """The plain-data description of a model of the user's class (no registry name), with its input."""
    return {
        "model": {"name": None, "kwargs": {}, "class": class_path(model)},
        "input": {"num_classes": num_classes, "in_channels": shape[0], "image_size": shape[-1]} if shape else None,
        "input_shape": list(shape) if shape else None,
    }


def load(path: str | Path, builder: Callable[[], nn.Module] | None = None) -> nn.Module:
    """The model saved at ``path``. A registry model rebuilds itself; any other class needs
    ``builder``: the class, or a function returning the unpruned model. Never unpickles code."""
    path = Path(path)
    description, arch, state = read_model_file(path)
    saved = SavedDescription.of(description, path)
    if builder is None:
        if saved.model.name:
            return load_model(path)[0]
        cls = saved.model.class_ or "a user class"
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


def evaluate_target(
    target: str, dataset: DatasetConfig, split: str | None = None, checkpoint: Path | None = None
) -> tuple[Accuracy, DatasetInfo]:
    """``torchslim eval``: the accuracy of a torchslim artifact (.pt), an ONNX file, or a registry
    model with a checkpoint, on a dataset's evaluation split (its test split, or the held-out val)."""
    data = build_dataset(dataset.model_copy(update={"augment": False}))
    images = data.eval
    if split == "test" and data.test is not None:  # a separate test folder (dataset.test_root)
        images, data.info = data.test, dataclasses.replace(data.info, eval_split="test", split_note=data.info.test_note)
    elif split is not None and split != data.info.eval_split:
        raise ConfigError(
            f"dataset '{dataset.name}' is evaluated on its {data.info.eval_split} split ({data.info.split_note}); "
            f"it has no separate {split} split: use --split {data.info.eval_split}"
            + (" or give the test folder (test_root)" if data.info.eval_split == "val" else "")
        )
    spec = InputSpec(data.info.num_classes, data.info.in_channels, data.info.image_size)
    model, given = target_model(target, checkpoint, spec)
    stated = saved_normalisation(target)
    if stated is not None and dataset.mean is None:  # the normalisation the saved model was trained with
        if len(stated.mean) != data.info.in_channels:
            raise ConfigError(
                f"{target} was trained on {len(stated.mean)}-channel images; "
                f"'{dataset.name}' has {data.info.in_channels}"
            )
        data.info = dataclasses.replace(data.info, mean=tuple(stated.mean), std=tuple(stated.std))
    expected = data.info.input_shape
    if given is not None and tuple(given) != tuple(expected):
        raise ConfigError(
            f"{target} takes {'x'.join(map(str, given))} images; dataset '{dataset.name}' gives "
            f"{'x'.join(map(str, expected))}"
        )
    return evaluate_batches(model, BatchLoader(images, data.info, 250)), data.info


def saved_normalisation(target: str):
    """The input normalisation a saved torchslim model states (``SavedNormalisation``), else None."""
    path = Path(target)
    if target.endswith(".onnx") or not path.is_file():
        return None
    return SavedDescription.of(read_model_file(path)[0], path).normalisation


def target_model(target: str, checkpoint: Path | None, spec: InputSpec) -> tuple[nn.Module, tuple | None]:
    """The model to evaluate, and the (C, H, W) input it declares where it declares one."""
    path = Path(target)
    if target.endswith(".onnx"):
        model = OnnxModel(path, nn.Identity(), "onnx")
        dims = tuple(checked_session(path, 1).get_inputs()[0].shape[1:])  # the file checked, its input read
        return model, dims if all(isinstance(d, int) for d in dims) else None
    if target.endswith(".pt") or path.is_file():
        if checkpoint is not None:
            raise ConfigError("--checkpoint goes with a registry model name, not with a saved artifact")
        saved = SavedDescription.of(read_model_file(path)[0], path)
        if not saved.model.name:
            raise ConfigError(
                f"{target} holds a {saved.model.class_ or 'user class'}, which no registry knows: "
                "evaluate it from Python with torchslim.evaluate(path, data, builder=YourClass)"
            )
        model, saved = load_model(path)
        return model, saved.shape
    if checkpoint is None:
        raise ConfigError(
            f"'{target}' is a model name: give its trained weights with --checkpoint PATH (an untrained model's "
            "accuracy measures nothing), or pass a saved model.pt / model.onnx"
        )
    adapted: list[str] = []
    model = build_model(ModelConfig(name=target, checkpoint=checkpoint), spec, adapted).eval()
    heads = [n for n in adapted if n.startswith("head replaced")]
    if heads:
        raise ConfigError(
            f"{checkpoint} does not classify this dataset's {spec.num_classes} classes ({heads[0]}): "
            "its accuracy would be a random head's; fine-tune it first (torchslim run with this checkpoint)"
        )
    return model, None
