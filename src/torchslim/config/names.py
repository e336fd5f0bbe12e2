"""Run names: they become folders, so they are plain names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


def plain_run_name(value: str) -> str:
    """A run name becomes a folder under runs/: letters, digits, ``_``, ``-`` and inner dots only, so a
    run never writes or deletes anything outside its own folder (``..`` or ``/x`` would)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", value or ""):
        raise ValueError("a run name is a plain folder name: letters, digits, '_', '-' and inner dots")
    return value


RunName = Annotated[str, AfterValidator(plain_run_name)]
