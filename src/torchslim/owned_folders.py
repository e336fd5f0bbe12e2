"""Folders torchslim may empty or overwrite: only those it created, marked by a file inside.

A user may point ``out_dir`` or ``output_dir`` at a folder of their own. torchslim writes its files
there but never deletes or overwrites a file it did not write: a folder it creates holds
``MARKER``, and a folder without it is the user's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from torchslim.errors import ConfigError

MARKER = ".torchslim-owned"
WRITTEN = ".torchslim-written"  # in a user's folder: the names torchslim wrote there, one per line


def is_owned(folder: Path, legacy: Iterable[str] = ()) -> bool:
    """Whether torchslim made ``folder``: it holds the marker, or only files matching ``legacy``
    glob patterns (what torchslim wrote there before it marked its folders)."""
    if (folder / MARKER).is_file():
        return True
    files = [p for p in folder.iterdir()]
    patterns = list(legacy)
    return bool(patterns) and all(p.is_file() and any(p.match(g) for g in patterns) for p in files)


def mark(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    return folder


def fresh_folder(folder: Path, legacy: Iterable[str] = ()) -> Path:
    """``folder``, empty and marked: emptied when torchslim made it, created when absent, and
    refused when it is a link, a file, or a folder of the user's that holds anything."""
    if folder.is_symlink():
        folder.unlink()  # a link is replaced, never followed
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"'{folder}' is a file; torchslim writes a folder there: move it or choose another folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not is_owned(folder, legacy):
            raise ConfigError(
                f"'{folder}' holds files torchslim did not write; it is never emptied: move it or choose another folder"
            )
        shutil.rmtree(folder)
    return mark(folder)


def writable_folder(folder: Path, outputs: Iterable[str]) -> Path:
    """``folder`` ready to receive ``outputs``: created and marked when new or empty; a folder of the
    user's is used only when it holds none of those names (they would be overwritten)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out_dir '{folder}' is a file, not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return mark(folder)
    if is_owned(folder):
        return folder
    ledger = folder / WRITTEN
    ours = set(ledger.read_text().split("\n")) if ledger.is_file() else set()
    clash = sorted(name for name in outputs if (folder / name).exists() and name not in ours)
    if clash:
        raise ConfigError(
            f"out_dir '{folder}' already holds {', '.join(clash)}, which torchslim did not write; "
            "it never overwrites them: give a new or empty folder"
        )
    ledger.write_text("\n".join(sorted(ours | set(outputs))) + "\n")
    return folder


def run_folder(folder: Path) -> Path:
    """``folder`` created and proven writable before any work, or one line saying why it is not
    (``output_dir: /proc/self`` passed validation and failed after the baseline)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".torchslim-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"output folder '{folder}' cannot be written ({exc.strerror or exc}); choose a folder you can write"
        ) from None
    return folder
