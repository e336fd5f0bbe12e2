"""Checks before any task starts: data loads, checkpoints read, and each model takes one batch of its
dataset's images and gives one score per class. Bad input fails in seconds, not after training."""

from __future__ import annotations

import torch

from torchslim.data import DATASETS, DatasetConfig
from torchslim.data.cache import DatasetCache
from torchslim.device import resolve as resolve_placement
from torchslim.errors import TorchslimError
from torchslim.measurement.complexity import complexity
from torchslim.models import InputSpec, build_model
from torchslim.models.weights import pretrained_file, read_state_dict
from torchslim.tasks import Task


def preflight(tasks: list[Task], ctx: DatasetCache, elsewhere: bool = False) -> dict[str, int]:
    """Load data, read checkpoints and pass one batch through each model before any task starts:
    bad input fails fast and costs nothing. Returns each model's MACs per image (which size its task)."""
    checked: dict[tuple[str, str], int] = {}
    macs: dict[str, int] = {}
    for task in tasks:
        where = task.train.placement
        resolve_placement(where.device, where.precision, elsewhere)  # cuda on a machine without it: one line
        if task.facts.preflight is not None:  # a kind with its own checks (a detector's data.yaml)
            macs[task.model.label] = max(macs.get(task.model.label, 0), task.facts.preflight(task, ctx))
            continue
        data = ctx.dataset(task.dataset)
        if task.model.checkpoint is not None:
            read_state_dict(task.model.checkpoint)
        if task.model.pretrained:
            pretrained_file(task.model.name)  # one line naming where to place the file when it is not cached
        epochs, batch, section = task.baseline_training()
        if task.chain is None and epochs > 0 and len(data.train) < batch:
            raise TorchslimError(
                f"{section}.batch_size {batch} is larger than the training split of "
                f"'{task.dataset.name}' ({len(data.train)} images): not one step would be trained; lower it"
            )
        pair = (task.model.model_dump_json(), task.dataset.model_dump_json())
        if pair not in checked:
            spec = task.input_spec(data)
            image = (data.info.in_channels, data.info.image_size, data.info.image_size)
            checked[pair] = check_pairing(task, spec, task.output_shape(spec, image))
        macs[task.model.label] = max(macs.get(task.model.label, 0), checked[pair])
    return macs


def declared_input(dataset: DatasetConfig) -> tuple[int, int, int] | None:
    """The image shape a dataset declares without reading it (None where only its files can tell)."""
    if dataset.name == "synthetic":
        return tuple(dataset.shape)
    if DATASETS.split(dataset.name)[0] == "imagefolder":
        return (3, dataset.image_size, dataset.image_size) if dataset.image_size else None
    return tuple(DATASETS.get(dataset.name).meta["input_shape"])


def check_declared_pairings(tasks: list[Task]) -> None:
    """``torchslim validate``: each model takes one image of the shape its dataset declares (no data read)."""
    seen: set[str] = set()
    for task in tasks:
        shape = declared_input(task.dataset)
        if shape is None or task.model.label in seen:
            continue
        seen.add(task.model.label)
        spec = task.declared_spec(shape, 10)
        check_pairing(task, spec, task.output_shape(spec, shape, declared=True))


def check_pairing(task: Task, spec: InputSpec, output: tuple[int, ...] | None = None) -> int:
    """The model, built for the task's input, takes one and gives ``output`` (one score per class, or a
    generator's image); returns its MACs per input."""
    model = build_model(task.model.model_copy(update={"checkpoint": None}), spec).eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.shape))
    except (RuntimeError, ValueError, IndexError, AssertionError) as exc:
        raise TorchslimError(
            f"model '{task.model.label}' cannot take the {'x'.join(map(str, spec.shape))} images of dataset "
            f"'{task.dataset.name}': {str(exc).strip().splitlines()[0][:160]}"
        ) from None
    if output is not None and tuple(out.shape) != (1, *output):
        want = (
            f"one score for each of its {output[0]} classes"
            if len(output) == 1
            else f"one {'x'.join(map(str, output))} output"
        )

        raise TorchslimError(
            f"model '{task.model.label}' gives outputs of shape {tuple(out.shape)} on dataset '{task.dataset.name}'"
            f", not {want}"
        )
    return complexity(model, spec.shape).macs
