"""One strict registry pattern for models, datasets and (later) methods.

Modelled on timm's registry: ``register`` as a decorator, ``names(filter)`` to list and
``get(name)`` to look up. It is stricter than timm: registering a name twice is an error, and an
unknown name raises :class:`UnknownNameError` suggesting the closest registered names.

A registry may be given a ``loader`` ("module:function"), called once before the first lookup:
the method registry loads its catalog that way, so importing a low layer never imports the
modules that register into it.

Families such as ``torchvision:NAME`` or ``imagefolder:PATH`` are handled by *prefix* entries:
``register_prefix("timm")`` claims every name that starts with ``timm:``.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from torchslim.errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered builder plus free-form metadata (default input, summary, ...)."""

    name: str
    builder: T
    summary: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    def __init__(self, kind: str, loader: str | None = None):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._prefixes: dict[str, Entry[T]] = {}
        self._loader = loader

    def _load(self) -> None:
        """Run the loader once (it registers entries); later lookups see what it registered."""
        if self._loader is None:
            return
        module, _, fn = self._loader.partition(":")
        self._loader = None  # before the call: the modules it imports register, and may look names up
        getattr(importlib.import_module(module), fn)()

    def register(self, name: str, summary: str = "", **meta: Any) -> Callable[[T], T]:
        def decorator(builder: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = Entry(name, builder, summary or _first_line(builder), meta)
            return builder

        return decorator

    def register_prefix(self, prefix: str, summary: str = "", **meta: Any) -> Callable[[T], T]:
        def decorator(builder: T) -> T:
            if prefix in self._prefixes:
                raise ValueError(f"{self.kind} prefix '{prefix}:' is already registered")
            self._prefixes[prefix] = Entry(f"{prefix}:NAME", builder, summary or _first_line(builder), meta)
            return builder

        return decorator

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def entries(self) -> list[Entry[T]]:
        self._load()
        return [self._entries[n] for n in self.names()] + list(self._prefixes.values())

    def split(self, name: str) -> tuple[str | None, str]:
        """``"timm:resnet18"`` -> ``("timm", "resnet18")``; plain names -> ``(None, name)``."""
        if ":" in name:
            prefix, rest = name.split(":", 1)
            if prefix in self._prefixes:
                return prefix, rest
        return None, name

    def get(self, name: str) -> Entry[T]:
        self._load()
        prefix, rest = self.split(name)
        if prefix is not None:
            if not rest:
                raise UnknownNameError(f"{self.kind} '{name}' is missing the part after '{prefix}:'")
            return self._prefixes[prefix]
        if name in self._entries:
            return self._entries[name]
        raise UnknownNameError(self.unknown_message(name))

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except UnknownNameError:
            return False
        return True

    def unknown_message(self, name: str) -> str:
        close = [n for n in self.names() if name.lower() in n.lower()][:3]
        close += [c for c in difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5) if c not in close]
        close = close[:3]
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        choices = ", ".join(self.names() + [f"{p}:NAME" for p in self._prefixes])
        return f"unknown {self.kind} '{name}'.{hint} Valid choices: {choices}."


def load_catalog(modules: tuple[str, ...], group: str, kind: str) -> None:
    """Import torchslim's own modules of a registry (each registers itself), then its plugins'."""
    for module in modules:
        importlib.import_module(module)
    load_entry_points(group, kind)


def load_entry_points(group: str, kind: str) -> None:
    """Import every installed plugin of an entry-point ``group``; a broken one is named in one line."""
    from importlib.metadata import entry_points

    from torchslim.errors import TorchslimError

    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
            raise TorchslimError(
                f"{kind} plugin '{ep.name}' ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            ) from None


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
