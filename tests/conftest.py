"""Shared fixtures: an isolated workspace, a tiny recipe, and the CLI run in-process or as a real subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TORCHSLIM_NO_PROGRESS", "1")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Run in a temporary folder, so that runs/ and the store never touch the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHSLIM_CACHE", str(tmp_path / "cache"))
    return tmp_path


def tiny_recipe(name: str = "tiny", **over) -> dict:
    """A recipe that trains in seconds: SimpleCNN on scikit-learn's 8x8 digits."""
    raw = {
        "name": name,
        "models": ["simple_cnn_6x2"],
        "dataset": {"name": "digits"},
        "seeds": [0],
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
        "measure": {"min_seconds": 0.05},
    }
    for k, v in over.items():
        raw[k] = v
    return raw


@pytest.fixture
def write_config(workspace):
    def write(raw: dict, name: str = "cfg.yaml") -> Path:
        path = workspace / name
        path.write_text(yaml.safe_dump(raw))
        return path

    return write


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command line run in this process, through the console script's own ``invoke``: its exit code,
    stdout and stderr, as a subprocess would give them, without a fresh torch import per command.
    ``timeout`` is kept for the call sites' sake; pytest's own per-test timeout bounds a hung command."""
    from torchslim.cli import invoke

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in ("COLUMNS", "TORCHSLIM_NO_PROGRESS")}
    os.environ.update(COLUMNS="200", TORCHSLIM_NO_PROGRESS="1")
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = invoke([str(a) for a in args])
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["torchslim", *args], code, out.getvalue(), err.getvalue())


def run_cli_process(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command line as a real process (``python -m torchslim``): for exit codes set by the
    interpreter, signals, and what only a fresh process shows."""
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1", COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "torchslim", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def installed_plugin(root: Path, module: str, source: str, group: str, entry: str = "toy") -> dict:
    """``module`` written under ``root`` with the entry point an installed package would declare in
    ``group``, visible through PYTHONPATH only: the environment a subprocess needs to see it."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry} = {module}\n")
    repo = Path(__file__).resolve().parents[1]
    return os.environ | {"PYTHONPATH": f"{root}{os.pathsep}{repo}", "TORCHSLIM_NO_PROGRESS": "1"}
