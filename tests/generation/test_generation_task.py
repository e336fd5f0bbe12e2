"""A tiny ``task: generate`` recipe end to end: the baseline generator trains adversarially, a
registered pruning method cuts it and distils it from the original, both are scored by FID in the named
feature space, and the report has the generation table and a sample grid per method."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tests.conftest import run_cli
from torchslim.export.checkpoint import save_model
from torchslim.models import InputSpec, build_model, describe
from torchslim.models.base import ModelConfig
from torchslim.store import Store


def image_folder(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def generation_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("gen")
    train, test = image_folder(work / "train", 16, 0), image_folder(work / "test", 8, 1)
    torch.manual_seed(0)
    spec = InputSpec(2, 3, 32)
    features = work / "features.pt"
    desc = describe(ModelConfig(name="simple_cnn_6x2"), spec) | {
        "normalisation": {"mean": [0.5] * 3, "std": [0.25] * 3}
    }
    save_model(build_model("simple_cnn_6x2", spec).eval(), features, desc)
    recipe = {
        "task": "generate",
        "name": "tinygan",
        "models": [{"name": "dcgan", "kwargs": {"ngf": 8, "nz": 16}}],
        "dataset": {
            "name": f"imagefolder:{train}",
            "test_root": str(test),
            "augment": False,
            "val_fraction": 0.25,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
        },
        "gan": {"epochs": 1, "batch_size": 8, "ndf": 8},
        "generation": {
            "features": str(features),
            "features_name": "SimpleCNN",
            "samples": 32,
            "sample_seeds": [0, 1],
            "latents_per_epoch": 32,
        },
        "train": {"threads": 1},
        "finetune": {"batch_size": 8, "optimizer": "adamw", "lr": 0.001, "threads": 1},
        "methods": [
            {"prune.structured": {"ratio": 0.5, "finetune_epochs": 1}},
            {"quant.static": {"calibration_samples": 16}},
        ],
        "measure": {"batch_sizes": [4], "runtimes": ["torch", "onnxruntime"], "min_seconds": 0.01, "compare": False},
        "output_dir": str(work / "runs" / "tinygan"),
        "store": str(work / "runs" / "store.db"),
    }
    (work / "gen.yaml").write_text(yaml.safe_dump(recipe))
    done = run_cli("run", str(work / "gen.yaml"), "--workers", "1", cwd=work)
    return work, done


@pytest.mark.e2e  # a whole run: `make test-e2e`
def test_the_recipe_runs_and_stores_fid_for_both_tasks(generation_run):
    work, done = generation_run
    assert done.returncode == 0, done.stderr[-3000:]
    rows = Store(work / "runs" / "store.db", readonly=True).rows()
    assert len(rows) == 3
    for r in rows:
        m = r.metrics
        assert m["fid"] > 0 and len(m["fid_per_seed"]) == 2 and m["fid_features"] == "FID (SimpleCNN features)"
        assert m["fid_samples"] == 32 and m["fid_reference_images"] == 16 and "kid" in m
    by = {r.method_chain.split("(")[0]: r for r in rows}
    base, pruned, int8 = by["baseline"], by["prune.structured"], by["quant.static"]
    assert int8.artifacts["kind"] == "onnx" and abs(int8.metrics["fid"] - base.metrics["fid"]) < 1.0  # INT8 file scored
    assert base.metrics["gan_history"][0]["images"] == 24  # 75 % of 32 training images, in batches of 8
    assert pruned.metrics["macs"] < 0.6 * base.metrics["macs"]  # the registered method cut the generator
    assert pruned.metrics["method_notes"]["finetune"][0]["epochs"] == 1  # distilled from the original


@pytest.mark.e2e
def test_the_report_has_the_generation_table_and_sample_grids(generation_run):
    work, done = generation_run
    assert done.returncode == 0, done.stderr[-3000:]
    md = (work / "runs" / "tinygan" / "report.md").read_text()
    assert "FID (SimpleCNN features) ↓" in md and "not Inception FID" in md
    assert md.count("samples_") == 3 and len(list((work / "runs" / "tinygan" / "report_files").glob("*.png"))) == 3
    again = run_cli("report", str(work / "runs" / "tinygan"), "--store", str(work / "runs" / "store.db"), cwd=work)
    assert again.returncode == 0, again.stderr


def test_a_classifier_in_a_generation_recipe_is_refused_in_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "generate",
                "name": "x",
                "models": ["resnet20"],
                "generation": {"features": "f.pt"},
                "dataset": {"name": "imagefolder:/nowhere", "test_root": "/nowhere"},
            }
        )
    )
    done = run_cli("validate", str(tmp_path / "bad.yaml"), cwd=tmp_path)
    assert done.returncode == 2 and "model 'resnet20' is for task: classify" in done.stderr
