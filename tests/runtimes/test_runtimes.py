"""The runtime seam: every registered runtime times a model; a new one is one module and one line."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch import nn

from tests.conftest import run_cli
from torchslim.config.search import SearchConfig
from torchslim.errors import ConfigError
from torchslim.export.onnx import export_onnx
from torchslim.measurement.bench import BenchConfig
from torchslim.runtimes import RUNTIMES, runtime_facts


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()


@pytest.mark.parametrize(
    "name",
    # compiling takes 10-15 s even for a tiny model: that case runs in the e2e tier
    [pytest.param(n, marks=pytest.mark.e2e) if n == "torch.compile" else n for n in RUNTIMES.names()],
)
def test_every_runtime_states_its_facts_and_times_a_model(name, tmp_path):
    runtime = runtime_facts(name)
    assert runtime.loads in ("module", "onnx") and runtime.precisions and runtime.label
    if runtime.missing():
        pytest.skip(runtime.missing())
    model = tiny()
    source = model
    if runtime.loads == "onnx":
        source = tmp_path / "m.onnx"
        export_onnx(model, torch.zeros(1, 1, 8, 8), source)
    (variant, *_) = runtime.variants(("fp32",))
    assert variant.precision in (*runtime.precisions, "file")
    call = variant.make(source, torch.randn(2, 1, 8, 8), 1)
    call()  # a timed call runs


TOY = textwrap.dedent(
    '''
    """A runtime from outside torchslim: PyTorch eager under another name, one module, one line."""
    from torchslim.runtimes.base import Runtime, Variant, register_runtime
    from torchslim.runtimes.torch_eager import torch_runner

    register_runtime(
        Runtime("toy", "Toy runtime", "module", ("fp32",), lambda p: [Variant("toy-cpu", "fp32", torch_runner)])
    )
    '''
)


@pytest.fixture
def toy_runtime(tmp_path, monkeypatch):
    """The toy module, imported from a folder of the test's: no torchslim file is edited."""
    (tmp_path / "toy_runtime.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    RUNTIMES.names()  # the catalog first, so the toy joins a loaded registry
    import toy_runtime  # noqa: F401

    yield "toy"
    RUNTIMES._entries.pop("toy", None)
    sys.modules.pop("toy_runtime", None)


def test_a_toy_runtime_joins_bench_and_the_search_objectives(toy_runtime, workspace):
    proc = run_cli(
        "bench", "simple_cnn_6x2", "--runtimes", "toy", "--batch-sizes", "1", "--min-seconds", "0.05", "--json",
        cwd=workspace,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import json

    rows = json.loads(proc.stdout)["latency"]
    assert [(r["runtime"], r["provider"], r["batch_size"]) for r in rows] == [("toy", "toy-cpu", 1)]
    assert SearchConfig(objective="latency:toy:b8").runtime == "toy"
    listed = run_cli("runtimes", cwd=workspace).stdout
    assert "toy" in listed and "Toy runtime" in listed and "the PyTorch module" in listed


@pytest.mark.parametrize(
    "raw, says",
    [
        (
            {"runtimes": ["tensorrt"]},
            r"unknown runtime 'tensorrt'\..*Valid choices: onnxruntime, openvino, torch, torch.compile",
        ),
        ({"runtimes": ["onnxruntime"], "precisions": ["bf16"]}, r"precision 'bf16' is offered by none of"),
    ],
)
def test_bad_runtime_input_is_one_line(raw, says):
    with pytest.raises((ConfigError, ValueError), match=says):
        BenchConfig.model_validate(raw)


def test_a_runtime_whose_package_is_missing_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    with pytest.raises(ConfigError, match=r"runtime 'openvino' needs the openvino package: pip install"):
        BenchConfig.model_validate({"runtimes": ["openvino"]})


def test_bf16_on_a_cpu_without_it_is_refused_not_timed_as_fp32(monkeypatch, tmp_path):
    pytest.importorskip("openvino")
    from torchslim.runtimes import openvino

    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "INT8"))
    path = tmp_path / "m.onnx"
    export_onnx(tiny(), torch.zeros(1, 1, 8, 8), path)
    (bf16,) = runtime_facts("openvino").variants(("bf16",))
    with pytest.raises(ConfigError, match="openvino bf16: this CPU has no BF16 support"):
        bf16.make(path, torch.randn(1, 1, 8, 8), 1)


@pytest.mark.parametrize(
    "flags, compiler, says",
    [
        (frozenset({"avx2"}), "/usr/bin/g++", r"torch.compile bf16: this CPU has no BF16 kernels"),
        (frozenset({"amx_bf16"}), None, r"runtime 'torch.compile' needs a C\+\+ compiler"),
    ],
)
def test_torch_compile_refuses_what_it_cannot_do_here_in_one_line(monkeypatch, flags, compiler, says):
    from torchslim import device
    from torchslim.runtimes import torch_compile

    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    monkeypatch.setattr(torch_compile.shutil, "which", lambda name: compiler)
    with pytest.raises(ConfigError, match=says):
        BenchConfig.model_validate({"runtimes": ["torch.compile"], "precisions": ["bf16"]})


def test_the_cli_names_an_unknown_runtime_in_one_line(workspace):
    proc = run_cli("bench", "simple_cnn_6x2", "--runtimes", "tensorrt", cwd=workspace)
    assert proc.returncode == 2 and "unknown runtime 'tensorrt'" in proc.stderr and "Traceback" not in proc.stderr


def test_bf16_without_bf16_kernels_is_refused_when_the_config_is_read(monkeypatch):
    pytest.importorskip("openvino")
    from torchslim.runtimes import openvino

    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "INT8"))
    with pytest.raises(ConfigError, match="openvino bf16: this CPU has no BF16 support"):
        BenchConfig.model_validate({"runtimes": ["openvino"], "precisions": ["bf16"]})
    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "BF16", "INT8"))
    assert BenchConfig.model_validate({"runtimes": ["openvino"], "precisions": ["bf16"]}).precisions == ["bf16"]


def test_a_recipe_may_skip_bf16_where_the_cpu_lacks_it_with_a_note(monkeypatch):
    """The demo asks for bf16 and runs on CPUs with and without it: ``unsupported: skip`` leaves the
    precision out and says why; the default still refuses in one line."""
    pytest.importorskip("openvino")
    from torchslim.config import MeasureConfig
    from torchslim.runtimes import openvino

    asked = {"runtimes": ["onnxruntime", "openvino"], "precisions": ["fp32", "bf16"]}
    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "INT8"))
    with pytest.raises(ConfigError, match="openvino bf16: this CPU has no BF16 support"):
        MeasureConfig.model_validate(asked)
    skipped = MeasureConfig.model_validate(asked | {"unsupported": "skip"})
    assert skipped.precisions == ["fp32"] and list(skipped.left_out) == ["bf16"]
    assert "no BF16 support" in skipped.left_out["bf16"]
    monkeypatch.setattr(openvino, "capabilities", lambda: ("FP32", "BF16", "INT8"))
    kept = MeasureConfig.model_validate(asked | {"unsupported": "skip"})
    assert kept.precisions == ["fp32", "bf16"] and kept.left_out == {}


def test_a_runs_report_has_a_deployment_row_per_runtime_the_toy_included(toy_runtime, write_config, workspace):
    """Issue 36: every artifact x runtime x variant, against the original in the same deployment and
    against the original's fastest deployment; each artifact's fastest is named."""
    from tests.conftest import tiny_recipe

    runtimes = ["torch", "onnxruntime", "toy"] + (["openvino"] if runtime_facts("openvino").missing() is None else [])
    raw = tiny_recipe(
        methods=[{"quant.dynamic": {}}],
        measure={"min_seconds": 0.05, "batch_sizes": [1], "runtimes": runtimes},
    )
    proc = run_cli("run", str(write_config(raw)), "--workers", "1", cwd=workspace)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (workspace / "runs" / "tiny" / "report.md").read_text()
    section = md.split("## Deployments", 1)[1].split("\n## ", 1)[0]
    assert "Toy runtime toy-cpu" in section and "ONNX Runtime CPUExecutionProvider" in section
    assert "PyTorch eager eager-cpu" in section
    if "openvino" in runtimes:
        assert "OpenVINO CPU-fp32" in section
    original = [line for line in section.splitlines() if line.startswith("| Original |")]
    assert len(original) == len(runtimes)  # the original in every runtime
    # timed side by side: 95 % intervals, and the reference is one of the original's deployments
    assert "95 % interval ms" in section
    assert sum(line.split("|")[7].strip().startswith("1.00× (") for line in original) == 1
    assert section.count("deploy with ") == 2  # the original and the INT8 file each name their fastest
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in section.splitlines() if "|" in line}
    assert "parity" in rows[("Original", "ONNX Runtime CPUExecutionProvider")]
    assert "the module itself" in rows[("Original", "PyTorch eager eager-cpu")]
    if "openvino" in runtimes:
        assert "| parity " in rows[("Original", "OpenVINO CPU-fp32")]  # the FP32 file in FP32: parity with torch
        # the INT8 file in OpenVINO: its own top-1 on the evaluation split, and its agreement with the float network
        int8 = rows[("Quant. (Dynamic) INT8", "OpenVINO CPU-fp32")]
        assert "top-1 agrees" in int8 and "with the float network on 360 images" in int8
        assert float(int8.split("|")[3]) > 10.0  # a measured top-1, not a hole


@pytest.mark.parametrize("name", [n for n in RUNTIMES.names() if runtime_facts(n).loads == "onnx"])
def test_a_deployed_file_runs_as_a_module_in_every_runtime_that_loads_files(name, tmp_path):
    """Issue 36: the deployed-file module ran ONNX Runtime itself; any registered file runtime runs it now."""
    from torchslim.runtimes.deployed import OnnxModel

    if runtime_facts(name).missing():
        pytest.skip(runtime_facts(name).missing())
    model = tiny()
    path = tmp_path / "m.onnx"
    export_onnx(model, torch.zeros(1, 1, 8, 8), path)
    x = torch.randn(3, 1, 8, 8)
    deployed = OnnxModel(path, model, "fp32", threads=1, runtime=name, runtime_precision="fp32")
    out = deployed(x)
    assert out.shape == (3, 10)
    assert torch.allclose(out, model(x), atol=1e-4), (out - model(x)).abs().max()


@pytest.mark.parametrize(
    "runtime, says",
    [("nosuch", "unknown runtime 'nosuch'"), ("torch", "runtime 'torch' runs modules, not ONNX files; choose one of:")],
)
def test_a_deployed_file_in_a_runtime_that_cannot_run_files_is_one_line(runtime, says, tmp_path):
    from torchslim.errors import TorchslimError
    from torchslim.runtimes.deployed import OnnxModel

    with pytest.raises(TorchslimError, match=says):
        OnnxModel(tmp_path / "m.onnx", tiny(), "fp32", runtime=runtime)


def test_a_corrupt_deployed_file_is_one_line(tmp_path):
    from torchslim.errors import CheckpointError
    from torchslim.runtimes.deployed import OnnxModel

    path = tmp_path / "m.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(CheckpointError, match="ONNX Runtime cannot load"):
        OnnxModel(path, tiny(), "int8-static")(torch.zeros(1, 1, 8, 8))
