"""The installed `torchslim` console script, as a real process: the exit codes a shell sees.

Every other command-line test calls `cli.invoke` in-process (tests/conftest.py); these few keep the
real entry point honest: `main` turns invoke's code into the process's exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("torchslim")


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TORCHSLIM_NO_PROGRESS="1", COLUMNS="200")
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_usage_error_exits_2_with_the_usage_line(tmp_path):
    done = script("compress-everything", cwd=tmp_path)
    assert done.returncode == 2 and "Usage: torchslim" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_config_is_one_line_and_exit_2(tmp_path):
    done = script("validate", "nowhere.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error:") and "nowhere.yaml" in line


def test_success_exits_0(tmp_path):
    done = script("datasets", cwd=tmp_path)
    assert done.returncode == 0 and "mnist5k" in done.stdout
