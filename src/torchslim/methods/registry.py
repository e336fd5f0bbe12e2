"""The method registry: each compression method is a config class plus a handler, registered with its facts.

Like torchao's ``quantize_(model, config)``: ``@register_method(name, Config, kind=..., ...)`` on a
handler ``apply(model, config, ctx) -> model``. The facts registered here are the only place that
says what a method is: whether it ends a chain with an ONNX file, how a report labels it, what
fraction it prunes. Methods are found through ``torchslim.catalog``, imported on first lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Callable, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from torch import nn

from torchslim.registry import Registry

Kind = Literal["prune", "quant", "distill", "other"]
Produces = Literal["model", "onnx"]


class MethodConfig(BaseModel):
    """Base of every method's settings: unknown keys are errors, and ``version`` names the behaviour.

    ``version`` is part of every task hash: bump it when a change alters what the method computes
    for the same settings, and results stored by the old behaviour are recomputed, not reused.
    """

    model_config = ConfigDict(extra="forbid")
    version: ClassVar[int] = 1


def _settings(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "—"


@dataclass(frozen=True)
class MethodFacts:
    """What the runner, the report and ``torchslim methods`` need to know about one method."""

    name: str
    config_cls: type[BaseModel]
    apply: Callable[..., nn.Module]
    kind: Kind
    produces: Produces  # "onnx": a deployed ONNX Runtime file, so the method ends its chain
    label: str  # the report's method column, e.g. "Pruning (Struct.)"
    amount: Callable[[dict[str, Any]], str] = _settings  # the report's compression column, from the settings
    prunes: Callable[[dict[str, Any], dict[str, Any]], float | None] | None = None  # (settings, notes) -> fraction
    example: dict[str, Any] = field(default_factory=dict)  # quick settings that show the method (docs, tests)

    @property
    def version(self) -> int:
        return int(getattr(self.config_cls, "version", 1))

    @property
    def summary(self) -> str:
        return (self.config_cls.__doc__ or "").strip().splitlines()[0] if self.config_cls.__doc__ else ""

    def settings(self) -> list[tuple[str, str, str, str]]:
        """(name, type, default, description) of every setting, read from the config class itself."""
        rows = []
        for name, f in self.config_cls.model_fields.items():
            if f.is_required():
                default = "required"
            else:
                value = f.get_default(call_default_factory=True)
                default = repr(value.model_dump() if isinstance(value, BaseModel) else value)
            rows.append((name, _type_name(f.annotation), default, f.description or ""))
        return rows


def _type_name(annotation: Any) -> str:
    """``Literal['a', 'b']`` -> ``a | b``; ``int | None`` -> ``int | None``; classes by their name."""
    args = get_args(annotation)
    if get_origin(annotation) is Literal:
        return " | ".join(map(str, args))
    if args:
        inner = " | ".join(_type_name(a) for a in args)
        origin = get_origin(annotation)
        if origin in (Union, UnionType):
            return inner
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


METHODS: Registry[MethodFacts] = Registry("method", loader="torchslim.catalog:load")


def register_method(
    name: str,
    config_cls: type[BaseModel],
    *,
    kind: Kind,
    label: str,
    produces: Produces = "model",
    amount: Callable[[dict[str, Any]], str] | None = None,
    prunes: Callable[[dict[str, Any], dict[str, Any]], float | None] | None = None,
    example: dict[str, Any] | None = None,
):
    """Decorator on the handler: ``@register_method("prune.structured", StructuredConfig, kind="prune", ...)``."""

    def decorator(fn):
        facts = MethodFacts(name, config_cls, fn, kind, produces, label, amount or _settings, prunes, example or {})
        METHODS.register(name, summary=facts.summary)(facts)
        return fn

    return decorator


def method_facts(name: str) -> MethodFacts:
    """The registered facts of ``name``; raises UnknownNameError with suggestions."""
    return METHODS.get(name).builder


def known_method(name: str) -> MethodFacts | None:
    """The facts of ``name`` if it is registered (a stored row may name a method no longer installed)."""
    return METHODS.get(name).builder if name in METHODS else None
