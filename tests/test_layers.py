"""The package's layers import only downward: import-linter's contracts, and proof that they bite."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), str(config), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_the_package_keeps_its_contracts():
    done = lint(ROOT, ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "3 kept, 0 broken" in done.stdout


@pytest.fixture
def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "torchslim", tmp_path / "src" / "torchslim", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    "module, line, broken",
    [
        # an upward import, hidden inside a function as the old circles were
        ("models/base.py", "def _up():\n    from torchslim.runner import run\n", "torchslim layers"),
        # one method implementation importing another's handler
        ("distill/kd.py", "from torchslim.prune.structured import prune_structured\n", "torchslim layers"),
        # a circle between two modules of one package (prune/structured imports prune/sensitivity)
        (
            "prune/sensitivity.py",
            "def _back():\n    from torchslim.prune.structured import StructuredConfig\n",
            "no import cycles",
        ),
    ],
)
def test_an_upward_import_or_a_circle_breaks_a_contract(copy_of_the_package, module, line, broken):
    path = copy_of_the_package / "src" / "torchslim" / module
    path.write_text(path.read_text() + "\n\n" + line)
    done = lint(copy_of_the_package, copy_of_the_package / "pyproject.toml")
    assert done.returncode != 0
    verdicts = [line for line in done.stdout.splitlines() if line.endswith(("KEPT", "BROKEN"))]
    assert any(line.startswith(broken) and line.endswith("BROKEN") for line in verdicts), verdicts


def test_importing_the_models_loads_no_method():
    code = (
        "import torchslim.models, torchslim.config, sys; "
        "print([m for m in sys.modules if m.startswith(('torchslim.prune', 'torchslim.quant', 'torchslim.distill'))])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
