"""What a finished task measures on the data it was given."""

from dataclasses import replace
from types import SimpleNamespace

import torch

from torchslim.data import DatasetConfig, build_dataset
from torchslim.measurement.accuracy import evaluate
from torchslim.models import InputSpec, build_model
from torchslim.task_execution import test_accuracy as accuracy_on_test
from torchslim.train import TrainConfig


def test_a_separate_test_split_is_measured_and_named_and_its_absence_adds_nothing():
    from torchslim.data import BatchLoader

    data = build_dataset(DatasetConfig(name="digits", augment=False))
    torch.manual_seed(0)
    model = build_model("simple_cnn_6x2", InputSpec(10, 1, 8)).eval()
    task = SimpleNamespace(train=TrainConfig(eval_batch_size=100))
    assert accuracy_on_test(model, data, task) == {}
    half = replace(data.eval, images=data.eval.images[:100], labels=data.eval.labels[:100])
    data.test, data.info = half, replace(data.info, test_note="test split: all 100 images of somewhere")
    got = accuracy_on_test(model, data, task)
    assert got["test_images"] == 100 and got["test_split"].endswith("somewhere")
    assert got["test_top1"] == evaluate(model, BatchLoader(half, data.info, 100)).top1


def test_a_stated_normalisation_travels_with_the_saved_model_and_eval_uses_it(tmp_path):
    from torchslim.api import evaluate_target
    from torchslim.data import BatchLoader
    from torchslim.export.checkpoint import save_model
    from torchslim.models import ModelConfig, describe

    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    model = build_model("simple_cnn_6x2", spec).eval()
    path = tmp_path / "model.pt"
    stated = {"mean": [0.3], "std": [0.2]}
    save_model(model, path, describe(ModelConfig(name="simple_cnn_6x2"), spec) | {"normalisation": stated})
    acc, info = evaluate_target(str(path), DatasetConfig(name="digits"))
    assert info.mean == (0.3,) and info.std == (0.2,)
    data = build_dataset(DatasetConfig(name="digits", augment=False, mean=(0.3,), std=(0.2,)))
    assert acc.top1 == evaluate(model, BatchLoader(data.eval, data.info, 250)).top1
