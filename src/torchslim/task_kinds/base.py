"""The task-kind seam: what a kind of task gives the command line, registered with its facts.

A kind is one module that calls :func:`register_task_kind`; the registry loads torchslim's own kinds
and the ``torchslim.task_kinds`` entry points on first lookup (``task_kinds.catalog``), so a plugin
adds a kind with no torchslim file edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from torchslim.config import merge, parse_overrides
from torchslim.errors import ConfigError, TorchslimError, describe_error, missing_file
from torchslim.metric import Metric
from torchslim.registry import Registry
from torchslim.yaml_input import read_yaml_file

DEFAULT_KIND = "classify"


@dataclass(frozen=True)
class TaskKind:
    """One kind of task: its recipe schema, its primary metric, and how a recipe of it is planned,
    run and reported. The callables take the validated recipe (``schema`` or what ``load`` returns)."""

    name: str
    schema: type[BaseModel]
    metric: Metric
    run: Callable[..., list]  # (cfg, source, force, choice) -> stored rows
    plan: Callable[..., None]  # (cfg, source, choice) -> prints the task graph (``--dry-run``), runs nothing
    report: Callable[..., dict[str, Path]]  # (cfg, store, source, formats, console) -> written files
    check: Callable[[Any], str]  # (cfg) -> the line ``torchslim validate`` ends with
    load: Callable[[dict[str, Any], str], Any] | None = None  # (raw, source) -> cfg; default: ``schema``
    summary: str = ""

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


def kind_of(cfg: Any) -> TaskKind:
    """The kind of a validated recipe: its ``task`` field, else classification (whose recipes and sweeps have none)."""
    return TASK_KINDS.get(getattr(cfg, "task", None) or DEFAULT_KIND).builder


def load_recipe(path: Path | str, overrides: list[str] | None = None) -> Any:
    """Read a recipe, apply ``key=value`` overrides and validate it with its kind's schema."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(missing_file(path, "config file"))
    raw = read_yaml_file(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of fields, got {type(raw).__name__}")
    return validate_recipe(merge(raw, parse_overrides(overrides or [])), str(path))


def validate_recipe(raw: dict[str, Any], source: str = "config") -> Any:
    name = raw.get("task", DEFAULT_KIND)
    if not isinstance(name, str) or name not in TASK_KINDS:
        raise ConfigError(f"{source}: task: {TASK_KINDS.unknown_message(str(name))}")
    return TASK_KINDS.get(name).builder.validate(raw, source)


def load_run(run_dir: Path) -> tuple[Any, str]:
    """The resolved recipe a run wrote into its folder (of whatever kind), and the command's config path."""
    resolved = run_dir / "config.resolved.yaml"
    if not resolved.is_file():
        raise TorchslimError(
            f"{run_dir} is not a run folder: it has no config.resolved.yaml "
            "(a folder written by `torchslim run`, e.g. runs/quickstart)"
        )
    first = resolved.read_text().splitlines()[0]
    source = first.removeprefix("# torchslim run ").strip() if first.startswith("# torchslim run ") else ""
    return load_recipe(resolved), source
