"""The tiny run every report test reads: made once for the whole package (it trains 8 tasks)."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_recipe
from torchslim.config import load_config
from torchslim.runner import run


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory):
    """simple_cnn on digits, two seeds: original, dynamic INT8, unstructured and iterative structured pruning."""
    import os

    import yaml

    root = tmp_path_factory.mktemp("report")
    raw = tiny_recipe(
        seeds=[0, 1],
        train={"epochs": 2, "batch_size": 64, "lr": 0.05},
        measure={"min_seconds": 0.05, "batch_sizes": [1, 8]},
        methods=[
            {"quant.dynamic": {}},
            {"prune.unstructured": {"sparsity": 0.5, "finetune_epochs": 1}},
            {"prune.structured": {"ratio": 0.5, "steps": 2, "finetune_epochs": 1}},
        ],
    )
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw))
    old = os.getcwd()
    os.chdir(root)
    try:
        run(load_config("cfg.yaml"), source="cfg.yaml")
    finally:
        os.chdir(old)
    return root
