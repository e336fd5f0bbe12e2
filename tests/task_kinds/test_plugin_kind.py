"""A task kind from a plugin: one module on PYTHONPATH with an entry point, no torchslim file edited. It
runs one registered method through torchslim's runner and gets its own report section."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import installed_plugin, tiny_recipe

ROOT = Path(__file__).resolve().parents[2]

TOY_KIND = '''
"""A toy kind: classification's tasks and worker, its own recipe name, metric label and report."""
from typing import ClassVar, Literal

from torchslim.config import RunConfig
from torchslim.kinds import TaskKind, register_task_kind
from torchslim.metric import Metric
from torchslim.report.build import write_report
from torchslim.report.document import Document, Section, Text
from torchslim.runner import run as run_recipe
from torchslim.tasks import expand


class ToyRunConfig(RunConfig):
    """A toy recipe: a classification recipe that says task: toy."""

    kind: ClassVar[str] = "toy"
    task: Literal["toy"] = "toy"


def toy_document(cfg, rows, groups, source, figdir):
    lines = [f"- {r.method_chain}: toy score {r.metrics['top1']:.2f}" for r in rows]
    return Document(cfg.name, "toy kind", [Section("Toy section", [Text("\\n".join(lines))])])


register_task_kind(
    TaskKind(
        name="toy",
        schema=ToyRunConfig,
        metric=Metric("top1", "toy score"),
        run=lambda cfg, source, force, choice: run_recipe(
            cfg, source=source, force=force, executor=choice, report_builder=toy_document
        ),
        plan=lambda cfg, source, choice: print("toy plan"),
        report=lambda cfg, store, source, formats, console: write_report(
            cfg, store, source, formats, console, builder=toy_document
        ),
        check=lambda cfg: f"# valid: {len(expand(cfg))} toy task(s)",
        summary="a toy kind from a plugin",
    )
)
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> dict:
    return installed_plugin(tmp_path_factory.mktemp("kind_plugin"), "toy_slim_kind", TOY_KIND, "torchslim.task_kinds")


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def toy_recipe(tmp_path: Path) -> Path:
    recipe = tiny_recipe(
        methods=[{"prune.unstructured": {"sparsity": 0.5}}],
        measure={"latency": False},
        store=str(tmp_path / "store.db"),
        output_dir=str(tmp_path / "run"),
    ) | {"task": "toy"}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(recipe))
    return tmp_path / "toy.yaml"


def test_a_plugin_kind_validates_its_recipe(plugin, tmp_path):
    done = run(["-m", "torchslim", "validate", str(toy_recipe(tmp_path))], plugin)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("# valid: 2 toy task(s)")


@pytest.mark.e2e  # a whole run in a fresh process with the plugin installed (`make test-e2e`)
def test_a_plugin_kind_runs_a_method_and_gets_its_report_section(plugin, tmp_path):
    done = run(["-m", "torchslim", "run", str(toy_recipe(tmp_path))], plugin)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Toy section" in report and "prune.unstructured(sparsity=0.5): toy score" in report
