"""User-facing errors.

Every problem a user can cause (bad config, unknown name, missing file, corrupt checkpoint)
raises a :class:`TorchslimError`. The CLI prints its message as one line and exits with code 2,
so users never see a traceback for their own mistakes.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


class TorchslimError(Exception):
    """A problem with the user's input, reported as one clear line."""

    def __str__(self) -> str:
        # one line, whatever a library's message held (YAML and pydantic messages span lines)
        return " ".join(super().__str__().split())


def failure_note(exc: BaseException) -> str:
    """How a failed task is recorded in the store: its type and the first line of its message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class ConfigError(TorchslimError):
    """A config file or override that does not validate."""


class UnknownNameError(TorchslimError):
    """A registry lookup for a name that is not registered."""


class DataNotFoundError(TorchslimError):
    """A dataset root that does not hold the expected files."""


class CheckpointError(TorchslimError):
    """A checkpoint that cannot be read as plain tensors."""


class DiskFullError(TorchslimError):
    """The disk filled while torchslim wrote: what was stored before is kept, the half-written file
    is removed, and the run stops (every later write would fail too). Exit code 1: not bad input."""

    exit_code = 1


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or a quota) is full: ``OSError`` ENOSPC/EDQUOT, or SQLite's
    SQLITE_FULL ("database or disk is full")."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "disk is full" in str(exc) or "No space left on device" in str(exc)


class Interrupted(TorchslimError):
    """Ctrl-C (or SIGTERM) during a run: what finished is stored, and the same command resumes."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt so that it takes Ctrl-C's path: what finished is said and
    kept, workers are stopped; the exit code is 143 (128 + 15), as the shell expects."""

    exit_code = 143
    word = "terminated (SIGTERM)"


def stop_word(exc: BaseException) -> tuple[str, int]:
    """How an interrupt is named in its one line, and its exit code."""
    return (exc.word, exc.exit_code) if isinstance(exc, Terminated) else ("interrupted", 130)


class TrainingDivergedError(TorchslimError):
    """The loss became NaN or infinite; continuing would only waste time."""


class BelowBudget(TorchslimError):
    """A search trial whose first fine-tuning epoch already fell below the accuracy budget (less a
    margin): it is stopped there instead of trained to the end (``train.abandon_below``)."""


class ExportError(TorchslimError):
    """The model could not be exported to ONNX by either exporter."""


def describe_error(exc: ValidationError, schema: type[BaseModel] | None = None) -> str:
    """The first validation error as ``field.path: problem (got value)``, with valid fields or choices."""
    err = exc.errors()[0]
    path = _as_written(schema, err["loc"]) if schema is not None else err["loc"]
    loc = ".".join(str(p) for p in path) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and schema is not None:
        fields = _fields_at(schema, path[:-1])
        return f"unknown field '{loc}'; valid fields here: {', '.join(fields)}"
    if err["type"] == "extra_forbidden":
        return f"unknown field '{loc}'"
    if err["type"] == "missing":
        return f"missing required field '{loc}'"
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    more = f" [and {len(exc.errors()) - 1} more problems]" if len(exc.errors()) > 1 else ""
    return f"{loc}: {msg}{shown}{more}"


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name) or next(
        (f for part in _flat_parts(model) if (f := _submodel(model, part).model_fields.get(name))), None
    )
    inner = getattr(field.annotation, "__args__", None) or (field.annotation,) if field else ()
    return next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)


def _flat_parts(model: type[BaseModel]) -> tuple[str, ...]:
    """Nested parts a section is written without (``TrainConfig``'s placement and control)."""
    return getattr(model, "flat_parts", ())


def _as_written(model: type[BaseModel] | None, loc: tuple) -> tuple:
    """The error's location as the user wrote it: without the parts a section is written flat."""
    out = []
    for part in loc:
        if model is not None and part in _flat_parts(model):
            model = _submodel(model, str(part))
            continue
        out.append(part)
        model = _submodel(model, str(part)) if model is not None and isinstance(part, str) else model
    return tuple(out)


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        if not isinstance(part, int):
            model = _submodel(model, str(part)) or model
    flat = [n for p in _flat_parts(model) for n in _submodel(model, p).model_fields]
    return sorted([n for n in model.model_fields if n not in _flat_parts(model)] + flat)


class MissingDataError(ConfigError):
    """A method needed data the caller of the Python API did not pass (e.g. ``train_data=``)."""

    def __init__(self, argument: str, purpose: str):
        self.argument, self.purpose = argument, purpose
        super().__init__(f"{purpose} needs {argument}")


def missing_file(path, what: str) -> str:
    """Why ``path`` is not a file to read, in words: a folder, a FIFO or device, or absent."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        return f"{what} '{path}' is a folder, not a file"
    if path.exists():
        return f"{what} '{path}' is not a regular file (a FIFO, socket or device?)"
    return f"{what} '{path}' does not exist"
