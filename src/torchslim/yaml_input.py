"""YAML from a user's file or command line, read within bounds.

``yaml.safe_load`` builds no objects, but an alias is a reference: 400 bytes of nested aliases
("billion laughs") expand to 10^9 values once anything walks them, and an anchor may refer to
itself. What a config holds is counted with aliases expanded (memoised, so counting is linear in
the document) and refused beyond ``MAX_VALUES`` values or ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from torchslim.errors import ConfigError

MAX_VALUES = 1_000_000
MAX_DEPTH = 100


def read_yaml_file(path: Path) -> Any:
    """The document in ``path``; one :class:`ConfigError` line for anything but bounded UTF-8 YAML."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """The document in ``text``; ``source`` names it in the error."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read (at most {MAX_DEPTH} levels)") from None
    expanded_size(value, source)
    return value


def expanded_size(value: Any, source: str) -> int:
    """Values in ``value`` with every alias expanded; refused when too many, too deep or cyclic."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError(f"{source}: an anchor refers to itself (&name used inside its own value)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested more than {MAX_DEPTH} levels deep")
        open_.add(key)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_.discard(key)
        if total > MAX_VALUES:
            raise ConfigError(f"{source}: expands to more than {MAX_VALUES:,} values (aliases of aliases?); refused")
        sizes[key] = total
        return total

    return size(value, 0)


def comment_safe(text: str) -> str:
    """``text`` for one ``# ...`` line of a YAML file we write: control characters (a newline in a
    file name) are escaped, so no name can start a line of YAML of its own."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
