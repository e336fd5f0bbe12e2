"""The task-kind registry: each kind of task (classification, detection, generation, a plugin's) is one
module registering a :class:`TaskKind` with its facts.

The facts say what the command line needs (the recipe schema, how a recipe is planned, run, checked and
reported) and what a worker needs (what the model takes and gives, the baseline's training, and the
task's own work where classification's does not fit). The registry lives low so that tasks, workers and
checks read it; the kind modules live high (``task_kinds``) and are imported on first lookup, with the
``torchslim.task_kinds`` entry points, so a plugin adds a kind with no torchslim file edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from torchslim.data.base import DataBundle
from torchslim.errors import ConfigError, TorchslimError, describe_error
from torchslim.metric import Metric
from torchslim.models import InputSpec, input_spec
from torchslim.registry import Registry


def images_in(task: Any, data: DataBundle) -> InputSpec:
    """Classification's input: the dataset's images."""
    return input_spec(data)


def images_declared(task: Any, image_shape: tuple[int, ...], classes: int) -> InputSpec:
    """Classification's input from a dataset's declared image shape (nothing read)."""
    return InputSpec(classes, image_shape[0], image_shape[-1])


def scores_out(task: Any, spec: InputSpec, image_shape: tuple[int, ...], declared: bool) -> tuple[int, ...] | None:
    """Classification's output: one score per class (unchecked where the class count is only a guess)."""
    return None if declared else (spec.num_classes,)


def dataset_of(task: Any, cache: Any) -> DataBundle:
    """Classification's data: the ``dataset:`` section, decoded once per process (``data.cache``)."""
    return cache.dataset(task.dataset)


def train_section(task: Any) -> tuple[int, int, str]:
    """Classification's baseline training: ``train:``'s epochs and batch size."""
    return task.train.epochs, task.train.batch_size, "train"


@dataclass(frozen=True)
class WorkerFacts:
    """What a worker needs of a kind; the defaults are classification's."""

    #: the task's own work: (task, data, folder, baseline file, threads) -> ResultRow; None: classification's
    #: (train or compress, evaluate top-1, save, measure), in ``task_execution``
    work: Callable[..., Any] | None = None
    input_spec: Callable[[Any, DataBundle], InputSpec] = images_in
    declared_spec: Callable[[Any, tuple[int, ...], int], InputSpec] = images_declared
    output_shape: Callable[[Any, InputSpec, tuple[int, ...], bool], tuple[int, ...] | None] = scores_out
    baseline_training: Callable[[Any], tuple[int, int, str]] = train_section
    #: (task, dataset cache) -> what the work and the methods read (a decoded dataset; a detector's data.yaml)
    data: Callable[[Any, Any], Any] = dataset_of
    #: (task, dataset cache) -> MACs per input, raising on bad input before any task starts; None:
    #: classification's (``preflight``: data loads, the model takes a batch and gives its output)
    preflight: Callable[[Any, Any], int] | None = None
    #: whether each artifact is also timed on its own after the run (``measurement_phase``); False: only
    #: side by side with the run's other artifacts (``latency_comparison``), as a detector's speedups are
    timed_alone: bool = True


CLASSIFY = "classify"  # the default kind, whose worker facts need no catalog loaded (see ``worker_facts``)


@dataclass(frozen=True)
class TaskKind:
    """One kind of task. The command-line callables take the validated recipe; ``worker`` holds what a
    worker needs, and its callables take a ``tasks.Task``."""

    name: str
    schema: type[BaseModel]
    metric: Metric
    run: Callable[..., list]  # (cfg, source, force, choice) -> stored rows
    plan: Callable[..., None]  # (cfg, source, choice) -> prints the task graph (``--dry-run``), runs nothing
    report: Callable[..., dict[str, Path]]  # (cfg, store, source, formats, console) -> written files
    check: Callable[[Any], str]  # (cfg) -> the line ``torchslim validate`` ends with
    load: Callable[[dict[str, Any], str], Any] | None = None  # (raw, source) -> cfg; default: ``schema``
    summary: str = ""
    worker: WorkerFacts = WorkerFacts()
    searchable: bool = False  # ``torchslim search`` takes its recipes (its objective reads top-1)

    def validate(self, raw: dict[str, Any], source: str) -> Any:
        if self.load is not None:
            return self.load(raw, source)
        try:
            return self.schema.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {describe_error(exc, self.schema)}") from None
        except TorchslimError as exc:  # unknown names raised by the field validators
            raise type(exc)(f"{source}: {exc}") from None


TASK_KINDS: Registry[TaskKind] = Registry("task kind", loader="torchslim.task_kinds.catalog:load")


def register_task_kind(kind: TaskKind) -> TaskKind:
    """Add a kind under its name (a second kind of the same name is an error)."""
    TASK_KINDS.register(kind.name, kind.summary or (kind.schema.__doc__ or "").strip().split("\n")[0])(kind)
    return kind


def kind_named(name: str) -> TaskKind:
    return TASK_KINDS.get(name).builder


def worker_facts(name: str) -> WorkerFacts:
    """A kind's worker facts. Classification's are the defaults, so a worker running classification tasks
    never imports the kind modules (they import the runner and the report: seconds per worker process)."""
    return WorkerFacts() if name == CLASSIFY else kind_named(name).worker
