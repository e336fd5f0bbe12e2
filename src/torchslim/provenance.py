"""What every stored result carries so that it can be reproduced: commit, versions, machine."""

from __future__ import annotations

import functools
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from torchslim.measurement.hardware import fingerprint

TRACKED_PACKAGES = (
    "torchslim",
    "torch",
    "torchvision",
    "timm",
    "torch-pruning",
    "onnx",
    "onnxruntime",
    "brevitas",
    "numpy",
    "ultralytics",
)


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    import platform

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the torchslim checkout (plus '-dirty' with local changes), or 'unknown'.

    A copy of the tree without its .git folder (a GPU machine, a container) may name its commit in
    ``TORCHSLIM_GIT_COMMIT``; git's answer wins where there is one."""
    here = Path(__file__).resolve().parent
    fallback = os.environ.get("TORCHSLIM_GIT_COMMIT", "unknown")
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return fallback
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return fallback


def provenance() -> dict[str, Any]:
    return {"git_commit": git_commit(), "versions": library_versions(), "hardware": fingerprint()}
