"""Run configs: YAML, validated by pydantic, with ``key=value`` overrides.

Each section's schema lives beside the code that uses it (``DatasetConfig`` in ``data``,
``TrainConfig`` in ``train``); this module assembles them and turns validation failures into
one line that names the field and the valid choices.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from torchslim.config.names import RunName
from torchslim.config.search import SearchConfig
from torchslim.config.sweep import SweepConfig
from torchslim.config.tracking import TrackingConfig
from torchslim.data.base import DATASETS, DatasetConfig
from torchslim.errors import ConfigError, TorchslimError, describe_error, missing_file
from torchslim.measurement.latency import BatchSizes, Runtimes
from torchslim.methods.chain import Chain
from torchslim.models.base import MODELS, ModelConfig
from torchslim.runtimes.base import check_runtimes, refused_precisions
from torchslim.train.config import TrainConfig
from torchslim.yaml_input import parse_yaml, read_yaml_file


class MeasureConfig(BaseModel):
    """What every task measures after it finishes: complexity and file size always, latency if enabled."""

    model_config = ConfigDict(extra="forbid")

    latency: bool = True
    batch_sizes: BatchSizes = Field(default_factory=lambda: [1], min_length=1)
    runtimes: Runtimes = Field(default_factory=lambda: ["torch", "onnxruntime"], min_length=1)
    precisions: list[str] = Field(
        default_factory=lambda: ["fp32"], min_length=1, description="fp32, bf16 (where a runtime offers it)"
    )
    unsupported: Literal["refuse", "skip"] = Field(
        "refuse",
        description="a precision this CPU cannot run (bf16 without BF16 kernels): refuse the recipe in one "
        "line, or skip it with a note (the demo asks for bf16 and runs on CPUs with and without it)",
    )
    min_seconds: float = Field(1.0, gt=0)
    threads: int | None = Field(None, gt=0)
    compare: bool = Field(
        True,
        description="after the run, time every artifact of a model side by side (first "
        "seed); the report's latencies and speedups then come from that",
    )
    rounds: int = Field(
        8,
        ge=1,
        description="interleaved rounds of the side-by-side timing; 6 or more give each speedup a 95 % interval",
    )

    def timed_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes the side-by-side timing uses; none named: the model's own input."""
        return []

    _left_out: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def left_out(self) -> dict[str, str]:
        """The precisions skipped on this machine (``unsupported: skip``), and why."""
        return self._left_out

    @model_validator(mode="after")
    def _runnable(self) -> "MeasureConfig":
        if self.latency and self.unsupported == "skip":
            self._left_out = refused_precisions(self.runtimes, self.precisions)
            self.precisions = [p for p in self.precisions if p not in self._left_out] or ["fp32"]
        if self.latency:
            check_runtimes(self.runtimes, self.precisions)
        return self


class RunConfig(BaseModel):
    """A recipe: every model x the dataset x every seed is one independent task."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[str] = "classify"  # the task kind (``kinds``) of this recipe's tasks
    models_for: ClassVar[str] = "classify"  # the task its models are registered for (a generator: "generate")

    name: RunName = Field(..., description="names the run folder (runs/<name>): a plain name")
    models: list[ModelConfig] = Field(..., min_length=1)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    methods: list[Chain] = Field(default_factory=list, description="method chains applied to each trained baseline")
    finetune: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=2, lr=0.01, schedule="cosine"),
        description="settings for fine-tuning inside methods (each method sets its own epochs)",
    )
    measure: MeasureConfig = Field(default_factory=lambda: MeasureConfig())
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    output_dir: Path | None = Field(None, description="default: runs/<name>")
    store: Path = Field(Path("runs/torchslim.db"), description="SQLite results store")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    search: SearchConfig | None = Field(
        None, description="what `torchslim search` looks for (`torchslim run` ignores it)"
    )

    @field_validator("models", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, dict)) else value

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        for m in value:
            kind = MODELS.get(m.name).meta.get("task", "classify")  # raises UnknownNameError with suggestions
            if kind != cls.models_for:
                raise ValueError(
                    f"model '{m.name}' is for task: {kind}, and this recipe's task is {cls.kind} "
                    f"(write task: {kind} at the top of the recipe)"
                )
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _chains(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("methods must be a list of chains, e.g. [{prune.unstructured: {sparsity: 0.5}}]")
        chains = [v if isinstance(v, Chain) else Chain.parse(v) for v in value]
        seen: set[str] = set()
        for chain in chains:
            if chain.label in seen:
                raise ValueError(f"the chain {chain.label} is listed twice; each chain runs once per model and seed")
            seen.add(chain.label)
        return chains

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_name(cls, value: Any) -> Any:
        value = {"name": value} if isinstance(value, str) else value
        if isinstance(value, dict):
            DATASETS.get(str(value.get("name", "mnist5k")))
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct, got {value}")
        out = [s for s in value if not 0 <= s < 2**32]
        if out:
            raise ValueError(f"seed {out[0]} is outside 0 to 2**32 - 1, the range torch and NumPy seed from")
        return value

    def kind_settings(self) -> dict[str, Any]:
        """Settings of this recipe's task kind that enter every task's key (none for classification)."""
        return {}

    def kind_sections(self) -> dict[str, BaseModel]:
        """The task kind's own config sections, as its workers need them (none for classification)."""
        return {}

    def kind_files(self) -> dict[str, Path]:
        """Files of this recipe's task kind that tasks read, by name: they enter the key by content."""
        return {}

    @property
    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / self.name


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["train.epochs=3", "seeds=[0,1]"]`` -> nested dict; values are parsed as YAML."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override '{pair}' is not of the form key=value (for example train.epochs=3)")
        key, raw = pair.split("=", 1)
        try:
            value = parse_yaml(raw, f"override '{pair}'") if raw else ""
        except ConfigError as exc:
            raise ConfigError(f"{exc}; quote strings and close brackets, e.g. seeds=[0,1]") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{pair}' sets a field inside '{part}', which is not a section")
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_recipe(path: Path | str, overrides: list[str] | None = None) -> dict[str, Any]:
    """A recipe file's fields with ``key=value`` overrides applied (not validated yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(missing_file(path, "config file"))
    raw = read_yaml_file(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields, got {type(raw).__name__}")
    return merge(raw, parse_overrides(overrides or []))


def load_config(path: Path | str, overrides: list[str] | None = None) -> RunConfig | "Sweep":
    """A classification recipe or sweep (``task_kinds.load_recipe`` reads a recipe of any kind)."""
    return validate_config(read_recipe(path, overrides), source=str(path))


def validate_config(raw: dict[str, Any], source: str = "config") -> RunConfig | Sweep:
    """A classification recipe, or a sweep of them when it says ``sweep: NAME``. Other kinds of task
    (``task: detect``, ...) are validated by their kind: ``task_kinds.load_recipe`` reads any recipe."""
    if "sweep" in raw:
        return load_sweep(raw, source)
    schema = RunConfig
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_error(exc, schema)}") from None
    except TorchslimError as exc:  # unknown names raised by the field validators
        raise type(exc)(f"{source}: {exc}") from None


@dataclass
class Sweep:
    """A validated sweep: its settings and one run config per entry."""

    config: SweepConfig
    runs: list[RunConfig]

    @property
    def name(self) -> str:
        return self.config.sweep


def load_sweep(raw: dict[str, Any], source: str) -> Sweep:
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_error(exc, SweepConfig)}") from None
    runs = []
    for i, member in enumerate(sweep.members()):
        cfg = validate_config(member, f"{source} (runs[{i}], {member.get('name')})")
        if not isinstance(cfg, RunConfig):
            raise ConfigError(f"{source}: runs[{i}] is not a classification run; a sweep holds classification runs")
        runs.append(cfg)
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: two runs of the sweep have the same name; give one a 'name'")
    return Sweep(sweep, runs)


def task_hash(payload: dict[str, Any]) -> str:
    """A stable hash of a resolved task config: same config, same key in the store."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config in the same syntax a user writes, so it loads back as the same config."""
    data = json.loads(cfg.model_dump_json())
    if isinstance(data.get("methods"), list):
        data["methods"] = [_chain_yaml(c) for c in data["methods"]]
    return yaml.safe_dump(data, sort_keys=False)


def _chain_yaml(chain: dict) -> Any:
    steps = [{s["name"]: s["params"]} for s in chain["steps"]]
    return steps[0] if len(steps) == 1 else steps
