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


class Interrupted(TorchslimError):
    """Ctrl-C during a run: what finished is stored, and the same command resumes."""

    exit_code = 130


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
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and schema is not None:
        fields = _fields_at(schema, err["loc"][:-1])
        return f"unknown field '{loc}'; valid fields here: {', '.join(fields)}"
    if err["type"] == "extra_forbidden":
        return f"unknown field '{loc}'"
    if err["type"] == "missing":
        return f"missing required field '{loc}'"
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    more = f" [and {len(exc.errors()) - 1} more problems]" if len(exc.errors()) > 1 else ""
    return f"{loc}: {msg}{shown}{more}"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        if isinstance(part, int):
            continue
        ann = model.model_fields[str(part)].annotation
        inner = getattr(ann, "__args__", None) or (ann,)
        model = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), model)
    return sorted(model.model_fields)


class MissingDataError(ConfigError):
    """A method needed data the caller of the Python API did not pass (e.g. ``train_data=``)."""

    def __init__(self, argument: str, purpose: str):
        self.argument, self.purpose = argument, purpose
        super().__init__(f"{purpose} needs {argument}")
