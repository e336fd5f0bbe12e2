"""A recipe expands into independent tasks: one model x dataset x method chain x seed.

A task carries its whole resolved config and writes only inside its own folder, so an executor
may run tasks in-process, in a process pool or on a cluster without shared state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torchslim.config import RunConfig, task_hash
from torchslim.data.base import DataBundle, DatasetConfig, data_fingerprint
from torchslim.errors import TorchslimError
from torchslim.export.checkpoint import file_sha256
from torchslim.kinds import WorkerFacts, worker_facts
from torchslim.methods.chain import Chain
from torchslim.models.base import InputSpec, ModelConfig
from torchslim.models.weights import pretrained_file
from torchslim.train.config import TrainConfig

BASELINE = "baseline"


@dataclass(frozen=True)
class Task:
    run_name: str
    model: ModelConfig
    dataset: DatasetConfig
    train: TrainConfig
    seed: int
    run_dir: Path
    chain: Chain | None = None
    finetune: TrainConfig | None = None
    measure: Any = None  # config.MeasureConfig
    source: str = ""
    inputs: tuple[tuple[str, str], ...] = ()  # content fingerprints of files the task reads (checkpoint, data)
    kind: str = "classify"  # the task kind (``task_kinds``): what trains, scores and feeds methods
    settings: str = ""  # JSON of the kind's own settings (``RunConfig.kind_settings``), in the key when given
    kind_config: Any = None  # the kind's own config sections, as validated (paths included; not in the key)

    @property
    def threads(self) -> int | None:
        """The threads asked for: a chain fine-tunes with ``finetune.threads`` (else ``train.threads``)."""
        if self.chain is not None and self.finetune is not None and self.finetune.placement.threads:
            return self.finetune.placement.threads
        return self.train.placement.threads

    @property
    def method_chain(self) -> str:
        return self.chain.label if self.chain else BASELINE

    @property
    def facts(self) -> WorkerFacts:
        """What this task's kind says a worker needs (``kinds``)."""
        return worker_facts(self.kind)

    def input_spec(self, data: DataBundle) -> InputSpec:
        """What the task's model takes: the dataset's images, or (a generator) its latent."""
        return self.facts.input_spec(self, data)

    def baseline_training(self) -> tuple[int, int, str]:
        """(epochs, batch size, config section) of the baseline's training."""
        return self.facts.baseline_training(self)

    def declared_spec(self, image_shape: tuple[int, ...], classes: int) -> InputSpec:
        """The input, from a dataset's declared image shape without reading it (``--dry-run``, validate)."""
        return self.facts.declared_spec(self, image_shape, classes)

    def output_shape(self, spec: InputSpec, image_shape: tuple[int, ...], declared: bool = False):
        """What one input must give (one score per class, one image...); None: not checked."""
        return self.facts.output_shape(self, spec, image_shape, declared)

    def baseline(self) -> "Task":
        """The task whose trained model this task's chain starts from."""
        return replace(self, chain=None, finetune=None)

    def payload(self) -> dict[str, Any]:
        """Everything that determines the result, except the seed: the store's config hash."""
        payload = {
            "model": model_key(self.model, dict(self.inputs)),
            "dataset": dataset_key(self.dataset),
            "train": self.train.key(),
            "methods": self.method_chain,
        }
        if self.settings:  # another kind's own settings (classification has none: its keys stay as before)
            payload["kind"] = json.loads(self.settings)
        if self.inputs:  # by content: an overwritten checkpoint or image folder is not served a stale result
            payload["inputs"] = dict(self.inputs)
        if self.chain is not None:
            # resolved settings, defaults included (not the label, which shows only the stated ones):
            # a changed default must not reuse a stale result
            del payload["methods"]
            # and each method's behaviour version: a changed method must not reuse a stale result either
            payload["chain"] = [s.resolved() for s in self.chain.steps]
            payload["finetune"] = self.finetune.key()
        return payload

    @property
    def config_hash(self) -> str:
        return task_hash(self.payload())

    @property
    def key(self) -> tuple:
        return (self.config_hash, self.model.label, self.dataset.name, self.method_chain, self.seed)

    @property
    def folder(self) -> Path:
        safe = self.model.label.replace(":", "-").replace("/", "-")
        kind = "baseline" if self.chain is None else "+".join(s.name for s in self.chain.steps)
        return self.run_dir / "tasks" / f"{safe}__{kind}__seed{self.seed}__{self.config_hash[:8]}"

    def describe(self) -> str:
        return f"{self.model.label} | {self.dataset.name} | {self.method_chain} | seed {self.seed}"


def model_key(model: ModelConfig, inputs: dict[str, str]) -> dict[str, Any]:
    """The model entry as it enters a key: a checkpoint by its content (in ``inputs``), not its path;
    ``pretrained`` only when set (keys stay as before)."""
    key = json.loads(model.model_dump_json())
    if not model.pretrained:
        del key["pretrained"]
    if "checkpoint_sha256" in inputs:
        key["checkpoint"] = "see inputs"
    return key


def dataset_key(dataset: DatasetConfig) -> dict[str, Any]:
    """The dataset settings that change the data; ``on_bad_image`` only when it skips (keys stay as before)."""
    # where the decoded images live (a cache folder, memory or a stream) does not change them
    unset = {k for k in ("test_root", "mean", "std") if getattr(dataset, k) is None}  # keys stay as before
    key = json.loads(dataset.model_dump_json(exclude={"cache_dir", "on_bad_image", "memory_budget_gib"} | unset))
    return key | ({"on_bad_image": "skip"} if dataset.on_bad_image == "skip" else {})


def content_inputs(model: ModelConfig, data_print: str | None) -> tuple[tuple[str, str], ...]:
    """What a task reads from local files, by content: the checkpoint's SHA-256, the data folder's fingerprint."""
    out = []
    if model.checkpoint is not None and Path(model.checkpoint).is_file():
        out.append(("checkpoint_sha256", file_sha256(Path(model.checkpoint))))
    if model.pretrained:
        try:
            out.append(("pretrained_sha256", file_sha256(pretrained_file(model.name))))
        except TorchslimError:
            pass  # not in the cache: the preflight says where to place it, before any task runs
    if data_print is not None:
        out.append(("data_fingerprint", data_print))
    return tuple(out)


def kind_inputs(cfg: RunConfig) -> tuple[tuple[str, str], ...]:
    """Files a task kind reads besides the model and data, by content (a generator's FID feature classifier)."""
    return tuple((f"{name}_sha256", file_sha256(path)) for name, path in cfg.kind_files().items() if path.is_file())


def expand(cfg: RunConfig, source: str = "") -> list[Task]:
    """Baselines first (chains start from them), then every chain for every model and seed."""
    tasks = []
    data_print = data_fingerprint(cfg.dataset)  # one walk of a data folder, whatever the number of models
    settings = cfg.kind_settings()
    extra = kind_inputs(cfg)
    for m in cfg.models:
        inputs = content_inputs(m, data_print) + extra
        for seed in cfg.seeds:
            base = Task(
                cfg.name,
                m,
                cfg.dataset,
                cfg.train,
                seed,
                cfg.run_dir,
                measure=cfg.measure,
                source=source,
                inputs=inputs,
                kind=cfg.kind,
                kind_config=cfg.kind_sections(),
                settings=json.dumps(settings, sort_keys=True) if settings else "",
            )
            tasks.append(base)
            tasks += [replace(base, chain=chain, finetune=cfg.finetune) for chain in cfg.methods]
    return tasks
