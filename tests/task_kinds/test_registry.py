"""The task-kind seam: each kind is registered with its schema and metric, and the command line
loads, checks and plans a recipe through its kind (never by testing the config's type)."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from torchslim.errors import ConfigError
from torchslim.metric import Metric
from torchslim.task_kinds import TASK_KINDS, kind_of, load_recipe

ROOT = Path(__file__).resolve().parents[2]
YOLO = ROOT / "configs" / "yolo" / "yolo11n_prune.yaml"
KINDS = TASK_KINDS.names()


def test_the_built_in_kinds_are_registered():
    assert {"classify", "detect"} <= set(KINDS)


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_states_its_metric_and_a_strict_schema(name):
    kind = TASK_KINDS.get(name).builder
    assert kind.name == name and isinstance(kind.metric, Metric) and kind.metric.key
    assert kind.schema.model_config.get("extra") == "forbid"
    assert TASK_KINDS.get(name).summary  # `torchslim` lists it with a line


@pytest.mark.parametrize(
    "metric, before, after, loss",
    [(Metric("top1", "Top-1", True), 90.0, 88.5, 1.5), (Metric("fid", "FID", False), 20.0, 23.0, 3.0)],
)
def test_a_metric_knows_which_direction_is_worse(metric, before, after, loss):
    assert metric.loss(before, after) == pytest.approx(loss)
    assert metric.loss(after, before) == pytest.approx(-loss)
    assert metric.best([before, after]) == (before if loss > 0 else after)


def test_a_recipe_is_validated_by_its_kind():
    assert kind_of(load_recipe(YOLO)).name == "detect"
    assert kind_of(load_recipe(ROOT / "configs" / "quickstart.yaml")).name == "classify"


def test_classify_may_be_named_and_an_unknown_kind_lists_the_choices(tmp_path):
    raw = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text()) | {"task": "classify"}
    (tmp_path / "named.yaml").write_text(yaml.safe_dump(raw))
    assert kind_of(load_recipe(tmp_path / "named.yaml")).name == "classify"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw | {"task": "segmnt"}))
    with pytest.raises(ConfigError, match=r"unknown task kind 'segmnt'.*Valid choices: classify, detect"):
        load_recipe(tmp_path / "bad.yaml")


def test_dry_run_of_a_detection_recipe_prints_its_plan_and_writes_nothing(tmp_path):
    """Before the seam, --dry-run read ``cfg.dataset`` of a detection recipe: an AttributeError traceback."""
    done = run_cli("run", str(YOLO), "--dry-run", f"output_dir={tmp_path / 'det'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "prune.structured(ratio=0.75)" in done.stdout and "9 tasks" in done.stdout
    assert "finetune(epochs=10)" in done.stdout  # the fair reference
    assert not (tmp_path / "det").exists()  # no synthetic data written, nothing trained


def test_validate_of_a_detection_recipe_counts_its_stages(tmp_path):
    done = run_cli("validate", str(YOLO), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("# valid: 9 task(s) (baseline, fine-tuned reference, each level)")


@pytest.mark.parametrize("recipe", [YOLO, ROOT / "configs" / "seed004" / "dcgan_cifar10.yaml"])
def test_search_refuses_a_kind_it_cannot_rank_in_one_line(recipe, tmp_path):
    done = run_cli("search", str(recipe), cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    kind = load_recipe(recipe).task
    assert f"a search runs on a classification recipe (one model), not a task: {kind} recipe" in done.stderr
