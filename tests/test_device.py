"""Devices and precision: resolved per task, refused in one line where impossible; CUDA tests skip without a GPU."""

import pytest
import torch

from torchslim.data import DatasetConfig, build_dataset
from torchslim.device import Placement, current, placed, resolve
from torchslim.errors import ConfigError
from torchslim.models import InputSpec, build_model
from torchslim.models.base import ModelConfig
from torchslim.train import TrainConfig, fit

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


@no_cuda
def test_auto_is_the_cpu_in_fp32_without_a_gpu():
    assert resolve("auto", "auto") == Placement("cpu", "fp32")


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_one_clear_line(device):
    with pytest.raises(ConfigError, match=f"train.device is '{device}' but torch sees no CUDA device"):
        resolve(device, "auto")


@no_cuda
def test_a_task_bound_for_a_cluster_node_may_ask_for_the_gpu_this_driver_lacks():
    """On Ray the node resolves the placement again; the driver only declares the GPU to the cluster."""
    from types import SimpleNamespace

    from torchslim.executors.ray_cluster import RayBackend

    assert resolve("cuda", "auto", elsewhere=True) == Placement("cuda:0", "bf16")
    assert resolve("cuda:1", "fp16", elsewhere=True) == Placement("cuda:1", "fp16")
    assert resolve("auto", "auto", elsewhere=True) == Placement("cpu", "fp32")  # auto: what this machine has
    backend = object.__new__(RayBackend)
    backend.ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    backend.check_gpus(0)
    with pytest.raises(ConfigError, match="a task asks for 1 GPU .* and the Ray cluster has 0 .*2 CPU"):
        backend.check_gpus(1)
    backend.ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 16.0, "GPU": 1.0})
    backend.check_gpus(1)


def test_fp16_on_the_cpu_is_refused():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve("cpu", "fp16")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu"])
def test_a_device_that_is_not_one_is_refused(bad):
    with pytest.raises(ValueError, match="is not a device; choose auto, cpu, cuda or cuda:N"):
        TrainConfig(device=bad)


def test_auto_choices_stay_out_of_the_task_key_and_stated_ones_enter_it():
    assert "device" not in TrainConfig().key() and "precision" not in TrainConfig().key()
    assert TrainConfig(device="cpu", precision="bf16").key() | {} == TrainConfig().key() | {
        "device": "cpu",
        "precision": "bf16",
    }


def tiny_fit(placement: Placement):
    data = build_dataset(DatasetConfig(name="digits"))
    model = build_model(ModelConfig(name="simple_cnn_6x2"), InputSpec(10, 1, 8))
    torch.manual_seed(0)
    with placed(placement):
        result = fit(model, data, TrainConfig(epochs=1, batch_size=64, lr=0.05), seed=0)
    return model, result


def test_bf16_autocast_trains_on_the_cpu_and_the_placement_is_restored():
    model, result = tiny_fit(Placement("cpu", "bf16"))
    assert result.accuracy.top1 > 30 and next(model.parameters()).device.type == "cpu"
    assert current() == Placement()


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_cuda_returns_the_model_to_the_cpu(precision):
    model, result = tiny_fit(resolve("cuda", precision))
    assert result.accuracy.top1 > 30 and next(model.parameters()).device.type == "cpu"


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_same_seed_trains_the_same_model_twice_on_cuda(precision):
    """Deterministic algorithms and a fixed cuBLAS workspace: two runs agree to the bit."""
    from torchslim.device import deterministic_cuda

    deterministic_cuda(True)
    torch.use_deterministic_algorithms(True)
    try:
        (a, ra), (b, rb) = tiny_fit(resolve("cuda", precision)), tiny_fit(resolve("cuda", precision))
    finally:
        torch.use_deterministic_algorithms(False)
    assert ra.accuracy.top1 == rb.accuracy.top1
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@cuda
def test_a_run_on_cuda_records_its_device_and_precision(tmp_path):
    from tests.conftest import tiny_recipe
    from torchslim.config import validate_config
    from torchslim.executors.choice import ExecutorChoice
    from torchslim.runner import run

    raw = tiny_recipe(train={"epochs": 1, "batch_size": 64, "device": "cuda"}, output_dir=str(tmp_path / "out"))
    raw |= {"store": str(tmp_path / "s.db"), "methods": [{"prune.structured": {"ratio": 0.5}}]}
    rows = run(validate_config(raw), formats=(), executor=ExecutorChoice("local", 1))
    assert [r.metrics["device"] for r in rows] == ["cuda:0", "cuda:0"]
    assert {r.metrics["precision"] for r in rows} == {"bf16"}
    assert all("eager-cuda" in {x["provider"] for x in r.metrics["latency"]} for r in rows)


@cuda
def test_cuda_latency_is_timed_with_events():
    from torchslim.measurement.bench import BenchConfig, measure

    m = measure("simple_cnn_6x2", BenchConfig(runtimes=["torch"], batch_sizes=[1], min_seconds=0.05))
    providers = {x["provider"] for x in m.as_dict()["latency"]}
    assert providers == {"eager-cpu", "eager-cuda"}


@no_cuda
def test_the_task_graph_declares_a_gpu_for_a_cluster_and_refuses_cuda_here(tmp_path):
    from tests.conftest import tiny_recipe
    from torchslim.config import validate_config
    from torchslim.data.cache import DatasetCache
    from torchslim.runner import plan
    from torchslim.tasks import expand

    raw = tiny_recipe(train={"epochs": 1, "batch_size": 64, "device": "cuda"}, output_dir=str(tmp_path))
    tasks = expand(validate_config(raw))
    assert [j.resources.gpus for j in plan(tasks, DatasetCache(), force=False, elsewhere=True)] == [1]
    with pytest.raises(ConfigError, match="torch sees no CUDA device"):
        plan(tasks, DatasetCache(), force=False)
