"""A method's ``version`` is part of every task hash: a changed behaviour recomputes, the baseline is reused."""

import pytest

from tests.conftest import tiny_recipe
from torchslim.config import validate_config
from torchslim.methods import method_facts
from torchslim.runner import run_tasks
from torchslim.tasks import expand


def test_a_version_bump_recomputes_the_method_and_reuses_the_baseline(tmp_path, monkeypatch):
    cfg = validate_config(
        tiny_recipe(
            methods=[{"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 0}}],
            measure={"latency": False},
            store=str(tmp_path / "store.db"),
            output_dir=str(tmp_path / "run"),
        )
    )
    tasks = expand(cfg)
    keys = [t.key for t in tasks]  # a key is computed from the method's version when asked
    store = run_tasks(cfg, tasks)
    base, chained = (store.get(t.key) for t in tasks)
    assert base is not None and chained is not None
    assert chained.config["chain"][0]["version"] == 1

    config_cls = method_facts("prune.unstructured").config_cls
    monkeypatch.setattr(config_cls, "version", 2)
    bumped = expand(cfg)
    assert bumped[0].key == keys[0]  # the baseline's key does not involve any method
    assert bumped[1].key != keys[1]
    assert not store.has(bumped[1].key)
    store = run_tasks(cfg, bumped)
    assert store.get(bumped[0].key).created_at == pytest.approx(base.created_at)  # reused, not retrained
    rerun = store.get(bumped[1].key)
    assert rerun.config["chain"][0]["version"] == 2 and rerun.created_at > chained.created_at
