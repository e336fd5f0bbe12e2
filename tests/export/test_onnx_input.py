"""ONNX files from anywhere, given to ``eval`` and ``bench``: one line each, never a traceback
(issue 35, defect 15, and its fuzz acceptance point)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from torch import nn

from torchslim.api import evaluate_target
from torchslim.data.base import DatasetConfig
from torchslim.errors import ConfigError, TorchslimError
from torchslim.export.onnx import export_onnx
from torchslim.measurement.bench import BenchConfig, resolve_target

DIGITS = DatasetConfig(name="digits")


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    """A 10-class classifier of digits' 1x8x8 images, exported by torchslim."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "ok.onnx"
    export_onnx(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval(), torch.zeros(1, 1, 8, 8), path)
    return path


def graph_file(path: Path, nodes, outputs, domain: str | None = None) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], outputs), opset_imports=opsets), path)
    return path


def test_a_valid_file_evaluates(valid):
    acc, _ = evaluate_target(str(valid), DIGITS)
    assert acc.n == 360 and 0 <= acc.top1 <= 100


def test_each_load_failure_is_one_line(valid, tmp_path):
    """Random bytes, a custom-op domain and missing external data were each an ONNX Runtime traceback."""
    (tmp_path / "random.onnx").write_bytes(bytes(range(256)) * 4)
    custom = graph_file(
        tmp_path / "custom.onnx",
        [helper.make_node("Evil", ["x"], ["y"], domain="com.evil")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        domain="com.evil",
    )
    external = tmp_path / "ext" / "model.onnx"
    external.parent.mkdir()
    model = onnx.load(str(valid))
    onnx.save(model, str(external), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
              size_threshold=0)  # fmt: skip
    (external.parent / "w.bin").unlink()
    for path in (tmp_path / "random.onnx", custom, external):
        with pytest.raises(TorchslimError, match=rf"ONNX Runtime cannot load '{path}': ") as info:
            evaluate_target(str(path), DIGITS)
        assert "\n" not in str(info.value)


def test_a_model_with_three_outputs_on_ten_classes_is_one_line(tmp_path):
    """An (N, 3) output on a 10-class dataset was an IndexError."""
    three = graph_file(
        tmp_path / "three.onnx",
        [
            helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("Slice", ["f", "s", "e", "a"], ["y"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    model = onnx.load(str(three))
    for name, value in (("s", 0), ("e", 3), ("a", 1)):
        model.graph.initializer.append(helper.make_tensor(name, TensorProto.INT64, [1], [value]))
    onnx.save(model, str(three))
    with pytest.raises(ConfigError, match=r"label \d is outside the model's 3 outputs \(classes 0-2\)"):
        evaluate_target(str(three), DIGITS)


def test_bench_names_what_it_measures_instead_of_calling_an_onnx_file_corrupt(valid):
    with pytest.raises(ConfigError, match=r"bench measures a saved model.pt or a registry model, not an ONNX file"):
        resolve_target(str(valid), BenchConfig())


def mutations(valid: bytes):
    flips = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    return st.one_of(
        st.binary(max_size=2048),
        flips.map(lambda fl: bytes(_flip(valid, fl))),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, len(valid)), st.binary(min_size=1, max_size=64)).map(
            lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
        ),
    )


def _flip(data: bytes, flips) -> bytearray:
    out = bytearray(data)
    for i, b in flips:
        out[i] = b
    return out


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_random_and_mutated_onnx_files_give_one_line_or_an_accuracy(valid, tmp_path, data):
    blob = data.draw(mutations(valid.read_bytes()), label="file")
    path = tmp_path / "fuzz.onnx"
    path.write_bytes(blob)
    try:
        acc, _ = evaluate_target(str(path), DIGITS)
        assert acc.n == 360
        event("evaluated")
    except TorchslimError as exc:
        assert str(exc) and "\n" not in str(exc)
        event("one line")
    with pytest.raises(ConfigError, match="not an ONNX file alone"):
        resolve_target(str(path), BenchConfig())
