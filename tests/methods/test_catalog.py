"""Methods are found through the catalog: a plugin registers one without editing any torchslim file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import installed_plugin
from torchslim.catalog import ENTRY_POINT_GROUP
from torchslim.methods import METHODS, method_facts

ROOT = Path(__file__).resolve().parents[2]

TOY = '''
"""A toy third-party method: multiplies every weight by a factor (a plugin test, not a compression)."""
import torch
from pydantic import Field

from torchslim.methods import MethodConfig, register_method


class ToyScaleConfig(MethodConfig):
    """Toy: multiply every weight by a factor."""

    factor: float = Field(1.0, gt=0, description="weight multiplier")


@register_method("toy.scale", ToyScaleConfig, kind="other", label="Toy scaling",
                 amount=lambda p: f"x{p['factor']:g}", example={"factor": 1.0})
def toy_scale(model, cfg, ctx):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(cfg.factor)
    return model
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> dict:
    """A module plus the entry point an installed package would declare, on PYTHONPATH only."""
    return installed_plugin(tmp_path_factory.mktemp("plugin"), "toy_slim_method", TOY, ENTRY_POINT_GROUP)


def run(args: list[str], env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_plugin_method_is_listed_by_torchslim_methods(plugin):
    done = run(["-m", "torchslim", "methods", "toy.*"], plugin)
    assert done.returncode == 0, done.stderr
    for text in ("toy.scale", "Toy scaling", "factor", "weight multiplier", "version 1"):
        assert text in done.stdout


@pytest.mark.e2e  # a nested pytest run; sibling: the listing test above: `make test-e2e`
def test_a_plugin_method_runs_in_the_chain_parametrized_tests(plugin):
    done = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/methods/test_chains.py", "-k", "toy"], plugin)
    assert done.returncode == 0, done.stdout[-3000:]
    import torch

    # facts, config round trip, and a run on a tiny model per placement (CPU fp32, CPU bf16, CUDA where present)
    assert f"{4 + torch.cuda.is_available()} passed" in done.stdout


@pytest.mark.e2e  # a whole run in a fresh process with the plugin installed (`make test-e2e`)
def test_a_plugin_method_shows_in_a_report_row_with_its_label(plugin, tmp_path):
    from tests.conftest import tiny_recipe

    recipe = tiny_recipe(
        methods=[{"toy.scale": {"factor": 1.0}}],
        measure={"latency": False},
        store=str(tmp_path / "store.db"),
        output_dir=str(tmp_path / "run"),
    )
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(recipe))
    done = run(["-m", "torchslim", "run", str(tmp_path / "toy.yaml")], plugin)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Toy scaling" in report and "x1" in report


def test_a_broken_plugin_is_named_in_one_line(tmp_path):
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_here\n")
    env = os.environ | {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = run(["-m", "torchslim", "methods"], env)
    assert done.returncode == 2
    assert "method plugin 'broken' (no_such_module_here) failed to load" in done.stderr
    assert "Traceback" not in done.stderr


def test_torchslim_methods_lists_every_method_with_its_settings(capsys):
    from torchslim.cli import methods

    methods("*")
    shown = capsys.readouterr().out
    for name in METHODS.names():
        facts = method_facts(name)
        assert name in shown and facts.label in shown
        for setting, _type, _default, _description in facts.settings():
            assert setting in shown
