import json

import pytest

from tests.conftest import run_cli, tiny_recipe
from torchslim.measurement.bench import BenchConfig, measure

FAST = dict(min_seconds=0.05, min_runs=3)


def test_measure_registry_model_rows_and_parity():
    m = measure("mobilenet_v1", BenchConfig(batch_sizes=[1, 2], **FAST))
    assert m.input_shape == (3, 32, 32)
    assert [(r.runtime, r.batch_size) for r in m.latency] == [
        ("torch", 1),
        ("onnxruntime", 1),
        ("torch", 2),
        ("onnxruntime", 2),
    ]
    assert m.parity.ok and m.parity.max_abs_diff < 1e-3
    assert m.onnx_size.bytes > 0.9 * m.size.bytes  # float32 weights either way
    assert m.peak_gflops > 0 and all(r.achieved_gflops > 0 and r.median_ms > 0 for r in m.latency)
    speed = m.speedups(m)
    assert len(speed) == 4 and all(v == pytest.approx(1.0) for v in speed.values())


def test_torch_only_skips_onnx():
    m = measure("enhanced_lenet5", BenchConfig(batch_sizes=[1], runtimes=["torch"], **FAST))
    assert m.parity is None and [r.runtime for r in m.latency] == ["torch"]


def test_unknown_runtime_is_a_config_error():
    with pytest.raises(ValueError, match="Valid choices: onnxruntime, openvino, torch, torch.compile"):
        BenchConfig(runtimes=["tensorflow"])


def test_cli_bench_json_and_store(workspace):
    proc = run_cli(
        "bench", "enhanced_lenet5", "--batch-sizes", "1", "2", "--min-seconds", "0.05", "--json", cwd=workspace
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert [r["batch_size"] for r in record["latency"]] == [1, 1, 2, 2]
    assert record["complexity"]["macs"] > 0 and record["parity"]["ok"]
    from torchslim.store import Store

    (row,) = Store(workspace / "runs" / "torchslim.db").benchmarks()
    assert row["target"] == "enhanced_lenet5" and row["hardware"]["logical_cores"] >= 1


def test_cli_bench_saved_artifact(write_config, workspace):
    assert run_cli("run", str(write_config(tiny_recipe(train={"epochs": 1}))), cwd=workspace).returncode == 0
    artifact = next(workspace.glob("runs/tiny/tasks/*/model.pt"))
    proc = run_cli("bench", str(artifact), "--batch-sizes", "1", "--min-seconds", "0.05", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["input_shape"] == [1, 8, 8]


def test_cli_bench_bad_runtime_one_line(workspace):
    proc = run_cli("bench", "resnet20", "--runtimes", "tvm", cwd=workspace)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: bench: runtimes: unknown runtime 'tvm'. Valid choices: onnxruntime, openvino, torch, torch.compile."
    ]


@pytest.mark.e2e  # times two models in every runtime: `make test-e2e`
def test_cli_bench_baseline_gives_speedups(workspace):
    proc = run_cli(
        "bench",
        "resnet20",
        "--baseline",
        "resnet56",
        "--batch-sizes",
        "1",
        "--min-seconds",
        "0.05",
        "--json",
        cwd=workspace,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["baseline"]["target"] == "resnet56"
    assert {(s["runtime"], s["batch_size"]) for s in record["speedups"]} == {("torch", 1), ("onnxruntime", 1)}
    assert all(s["speedup"] > 0 for s in record["speedups"])
    # each speedup was timed side by side and carries its 95 % interval and round count
    assert all(s["low"] <= s["ratio"] <= s["high"] and s["rounds"] >= 6 for s in record["speedups"])
    assert record["baseline"]["complexity"]["macs"] > 2.5 * record["complexity"]["macs"]
    # issue 36: the same rounds read against the baseline's fastest deployment, which is named
    fastest = min((r for r in record["baseline"]["latency"] if r["batch_size"] == 1), key=lambda r: r["median_ms"])
    vs = record["speedups_vs_baseline_fastest"]
    assert {(s["runtime"], s["batch_size"]) for s in vs} == {("torch", 1), ("onnxruntime", 1)}
    assert all(s["reference"] == {"runtime": fastest["runtime"], "provider": fastest["provider"]} for s in vs)
    same = {s["runtime"]: s["ratio"] for s in record["speedups"]}
    assert vs_of(vs, fastest["runtime"]) == pytest.approx(same[fastest["runtime"]])  # the same pair, the same rounds
    other = next(r for r in same if r != fastest["runtime"])
    assert vs_of(vs, other) < same[other]  # against a faster reference the speedup is smaller


def vs_of(rows: list[dict], runtime: str) -> float:
    return next(s["ratio"] for s in rows if s["runtime"] == runtime)


def test_the_bf16_peak_is_absent_not_zero_on_a_cpu_without_bf16(monkeypatch):
    """Issue 36, point 6: a BF16 peak is measured through OpenVINO's BF16 kernels, and where the CPU has
    none there is no peak (a row would otherwise read 0 % of it, or FP32's figure under a BF16 label)."""
    pytest.importorskip("openvino")
    from torchslim.measurement import roofline
    from torchslim.runtimes import openvino

    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "INT8"))
    roofline.precision_peak_gflops.cache_clear()
    assert roofline.precision_peak_gflops("bf16", 1) is None
    roofline.precision_peak_gflops.cache_clear()
