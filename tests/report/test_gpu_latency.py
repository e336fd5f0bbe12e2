"""The GPU latency table: only for runs timed on a GPU, with a reason in every cell it cannot fill."""

from __future__ import annotations

from torchslim.report.entries import group_entries
from torchslim.report.gpu_latency import gpu_sections, gpu_table
from torchslim.store import ResultRow

CHAINS = {"baseline": [], "prune.structured(ratio=0.5)": [{"name": "prune.structured", "params": {"ratio": 0.5}}]}


def row(chain: str, cuda_ms: float | None, ort_cuda_ms: float | None = None) -> ResultRow:
    latency = [{"runtime": "onnxruntime", "provider": "CPUExecutionProvider", "batch_size": 1, "median_ms": 1.0}]
    if cuda_ms is not None:
        latency.append({"runtime": "torch", "provider": "eager-cuda", "batch_size": 1, "median_ms": cuda_ms})
    if ort_cuda_ms is not None:
        latency.append(
            {"runtime": "onnxruntime", "provider": "CUDAExecutionProvider", "batch_size": 1, "median_ms": ort_cuda_ms}
        )
    metrics = {"top1": 90.0, "macs": 1e6, "latency": latency, "device_name": "NVIDIA H200"}
    artifact = {"dir": "runs/r/tasks/x", "kind": "torchslim", "model": "model.pt", "onnx": None}
    versions = {"onnxruntime": "1.30.0"}
    return ResultRow(
        "h", "r", "resnet20", "cifar10", chain, 0, metrics, artifact, {"chain": CHAINS[chain]}, "", versions, {}
    )


def test_a_cpu_only_run_has_no_gpu_section():
    groups = group_entries([row("baseline", None), row("prune.structured(ratio=0.5)", None)])
    assert gpu_sections(groups) == []


def test_gpu_cells_give_the_median_and_the_speedup_and_name_a_missing_provider():
    groups = group_entries([row("baseline", 2.0), row("prune.structured(ratio=0.5)", 1.0)])
    table = gpu_table(groups[0])
    assert table.headers == ["Method", "Compression", "PyTorch CUDA b1", "ORT CUDA b1"]
    assert table.rows[0][2:] == ["2.000 ms", "no CUDA provider in onnxruntime 1.30.0"]
    assert table.rows[1][2:] == ["1.000 ms (2.00x)", "no CUDA provider in onnxruntime 1.30.0"]
    assert "NVIDIA H200" in table.title


def test_a_slower_model_on_the_gpu_is_called_slower_and_provider_figures_are_shown():
    groups = group_entries([row("baseline", 1.0, 0.5), row("prune.structured(ratio=0.5)", 2.0, 0.4)])
    table = gpu_table(groups[0])
    assert table.rows[1][2:] == ["2.000 ms (0.50x SLOWER)", "0.400 ms (1.25x)"]
    (section,) = gpu_sections(groups)
    assert section.title == "Latency on the GPU"
