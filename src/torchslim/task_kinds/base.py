"""Reading a recipe through its kind: ``task:`` names the kind (``classify`` when absent), whose schema
validates it. The registry and the facts themselves are ``torchslim.kinds``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchslim.config import read_recipe
from torchslim.errors import ConfigError, TorchslimError
from torchslim.kinds import TASK_KINDS, TaskKind, register_task_kind

__all__ = ["TASK_KINDS", "TaskKind", "kind_of", "load_recipe", "load_run", "register_task_kind", "validate_recipe"]

DEFAULT_KIND = "classify"


def kind_of(cfg: Any) -> TaskKind:
    """The kind of a validated recipe: its ``task`` field, else classification (whose recipes and sweeps have none)."""
    return TASK_KINDS.get(getattr(cfg, "task", None) or DEFAULT_KIND).builder


def load_recipe(path: Path | str, overrides: list[str] | None = None) -> Any:
    """Read a recipe, apply ``key=value`` overrides and validate it with its kind's schema."""
    return validate_recipe(read_recipe(path, overrides), str(path))


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
