"""A model file is untrusted: every part is checked before it is allocated, built or opened."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import TorchDispatchMode

from torchslim.api import load
from torchslim.errors import CheckpointError, ConfigError
from torchslim.export.checkpoint import read_checkpoint, save_model
from torchslim.export.untrusted import BUILD_FACTOR, _allowed_roots, bounded_build
from torchslim.models import ModelConfig, build_model, describe
from torchslim.models.base import InputSpec

SPEC = InputSpec(10, 1, 28)
CFG = ModelConfig(name="simple_cnn_6x2", kwargs={"width": 4, "hidden": 16})


def valid_blob(folder: Path) -> dict:
    """A small registry model's file, with one sparse-encoded tensor so both encodings are read."""
    torch.manual_seed(0)
    model = build_model(CFG, SPEC)
    with torch.no_grad():
        model.classifier[1].weight[:, ::2] = 0
    save_model(model, folder / "ok.pt", describe(CFG, SPEC))
    blob = read_checkpoint(folder / "ok.pt")
    assert list(blob["tensors"]["sparse"]) == ["classifier.1.weight"]
    return blob


@pytest.fixture(scope="module")
def blob(tmp_path_factory) -> dict:
    return valid_blob(tmp_path_factory.mktemp("model"))


def saved(blob: dict, path: Path) -> Path:
    torch.save(blob, path)
    return path


def copy_of(blob):
    return {k: copy_of(v) for k, v in blob.items()} if isinstance(blob, dict) else blob


def test_a_sparse_shape_beyond_its_mask_is_refused_before_it_is_allocated(blob, tmp_path):
    """Defect 2: 1.5e9 declared elements with a 1-byte mask took 6.5 GB before a traceback."""
    bomb = copy_of(blob)
    bomb["tensors"]["sparse"]["x"] = {"shape": (1_500_000_000,), "mask": torch.zeros(1, dtype=torch.uint8),
                                      "values": torch.zeros(0)}  # fmt: skip
    with pytest.raises(CheckpointError, match=r"declares 1,500,000,000 elements but its mask holds 8 bits"):
        load(saved(bomb, tmp_path / "bomb.pt"))


def test_kwargs_that_ask_for_a_huge_model_are_refused_before_it_is_built(blob, tmp_path):
    """Defect 2: ``width_mult: 2000`` asked for 32 GB; it is counted on the meta device and refused."""
    wide = copy_of(blob)
    wide["description"]["model"] = {"name": "mobilenet_v1", "kwargs": {"width_mult": 2000}}
    with pytest.raises(
        CheckpointError,
        match=r"describes a model larger than it can hold: refused .* 7,220 elements.*it asks for [\d,]+\)",
    ):
        load(saved(wide, tmp_path / "wide.pt"))


@pytest.mark.parametrize("key", ["checkpoint_path", "pretrained_cfg_overlay", "weights"])
def test_a_model_file_cannot_name_a_file_for_the_builder_to_open(blob, tmp_path, key):
    """Defect 2: timm's ``checkpoint_path`` from a file made timm open any path the file named."""
    named = copy_of(blob)
    named["description"]["model"] = {"name": "timm:resnet18", "kwargs": {key: "/etc/passwd"}}
    with pytest.raises(CheckpointError, match=rf"kwargs {key} would make the library open a file"):
        load(saved(named, tmp_path / "named.pt"))


def test_a_builder_that_cannot_run_on_meta_is_capped_before_it_allocates():
    """Ultralytics reads a stride back while it builds: such builders run for real, under a cap."""

    def probing(width: int) -> torch.nn.Module:
        torch.zeros(1).item()  # what a meta tensor cannot do
        return torch.nn.Linear(width, width)

    assert bounded_build(lambda: probing(64), 10, "f.pt").weight.shape == (64, 64)
    with pytest.raises(CheckpointError, match="f.pt describes a model larger than it can hold: refused"):
        bounded_build(lambda: probing(100_000), 10, "f.pt")  # 40 GB, refused before it is asked for


def test_no_builder_opens_a_file_or_the_network_while_a_file_is_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    with pytest.raises(CheckpointError, match="tried to open '.*secret.txt'; a model file never names"):
        bounded_build(lambda: torch.nn.Linear(1, 1) if secret.read_text() else None, 2, "f.pt")
    import socket

    with pytest.raises(CheckpointError, match="tried to reach the network"):
        bounded_build(lambda: socket.create_connection(("127.0.0.1", 9)), 2, "f.pt")


def mutate(blob: dict, *path, value=..., delete: bool = False) -> dict:
    out = copy_of(blob)
    node = out
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


MALFORMED = {
    "architecture not a dict": (("architecture",), ["conv"], "architecture is a list, expected a mapping"),
    "no tensors": (("tensors",), None, "it lacks tensors"),
    "no sparse part": (("tensors", "sparse"), None, "tensors lacks its 'sparse' part"),
    "no input": (("description", "input"), None, "describes no registry model and input"),
    "kwargs a list": (("description", "model", "kwargs"), [1, 2], r"description.model.kwargs is invalid"),
    "negative sparse shape": (("tensors", "sparse", "classifier.1.weight", "shape"), (-16, 144), "non-negative"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_model_file_is_one_checkpoint_error(blob, tmp_path, case):
    """Defect 16: each of these was a TypeError, KeyError, AttributeError or RuntimeError traceback."""
    path, value, message = MALFORMED[case]
    bad = mutate(blob, *path, delete=value is None) if value is None else mutate(blob, *path, value=value)
    with pytest.raises(CheckpointError, match=message):
        load(saved(bad, tmp_path / "bad.pt"))


# --- the property: any mutation of a valid file gives one CheckpointError line or a working model ----------

# The bound under test: a model built from a file holds at most max(64 x the file's elements,
# BUILD_FLOOR) elements. The floor is lowered here so that models at the bound are quick to build;
# fresh storage for the model, its init and the forward check, counted never freed, stays under 4x
# the model's float32 bytes.
TEST_FLOOR = 1 << 20
ALLOCATION_BOUND = 4 * 4 * max(BUILD_FACTOR * 8_000, TEST_FLOOR)


def is_real(t) -> bool:
    return isinstance(t, torch.Tensor) and not isinstance(t, FakeTensor) and t.device.type != "meta"


class AllocationMeter(TorchDispatchMode):
    """Bytes of every new real (non-meta) storage an op returns, never freed: an upper bound on
    the peak. In-place ops and views return storage that already exists and are not counted."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = torch.utils._pytree.tree_leaves((args, kwargs))
        known = {t.untyped_storage().data_ptr() for t in inputs if is_real(t)}
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if is_real(t) and t.untyped_storage().data_ptr() not in known:
                self.bytes += t.untyped_storage().nbytes()
        return out


def leaves(node, path=()):
    """Every path into the blob (dict keys, list indices), leaves and inner nodes alike."""
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))


tensors = st.builds(
    lambda shape, dtype: torch.ones(shape, dtype=dtype),
    st.lists(st.integers(0, 6), max_size=3),
    st.sampled_from([torch.float32, torch.float16, torch.uint8, torch.int64, torch.bool]),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-3, 300),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(-(2**40), 2**40), max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=6), st.integers(-3, 9), max_size=3),
    tensors,
)


def set_at(blob, path, value, delete):
    out = copy_of(blob)
    if not path:
        return value
    node = out
    for key in path[:-1]:
        child = node[key]
        if isinstance(child, tuple):
            child = list(child)
        node[key] = child if not isinstance(child, dict) else dict(child)
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    elif isinstance(node, (dict, list)):
        node[path[-1]] = value
    return out


@st.composite
def mutated(draw, blob):
    out = blob
    for _ in range(draw(st.integers(1, 3))):
        paths = list(leaves(out))
        path = draw(st.sampled_from(paths))
        out = set_at(out, path, draw(values), delete=draw(st.booleans()))
    return out


# 400 mutants in the default suite (about 38 s here); `make test-slow` runs 2000
EXAMPLES = int(__import__("os").environ.get("TS_EXAMPLES", 250))  # `make test-slow`: 2000
OPENS: list[str] = []


def _record_opens(event, args):
    if event == "open" and OPENS and isinstance(args[0], (str, Path)):
        OPENS.append(str(Path(args[0]).resolve()))


sys.addaudithook(_record_opens)


class Prepared:
    """The valid blob and a folder for mutants (a short repr: hypothesis prints its arguments)."""

    def __init__(self, blob: dict, folder: Path):
        self.blob, self.folder = blob, folder

    def __repr__(self) -> str:
        return "Prepared(simple_cnn_6x2)"


@pytest.fixture(scope="module")
def prepared(blob, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mutants")
    load(saved(blob, folder / "warm.pt"))  # the first load imports what it needs
    return Prepared(blob, folder)


@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.generate, Phase.shrink], derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(data=st.data())
def test_any_mutation_of_a_model_file_is_one_line_or_a_working_model(prepared, data, monkeypatch):
    monkeypatch.setattr("torchslim.export.untrusted.BUILD_FLOOR", TEST_FLOOR)
    mutant = data.draw(mutated(prepared.blob), label="mutant")
    path = prepared.folder / "mutant.pt"
    torch.save(mutant, path)
    meter = AllocationMeter()
    OPENS[:] = ["<on>"]
    try:
        with meter:
            model = load(path)
        event("loaded")
    except (CheckpointError, ConfigError) as exc:  # ConfigError: a file of a user class needs builder=
        assert "\n" not in str(exc) and str(exc)
        event(f"refused: {type(exc).__name__}")
        model = None
    finally:
        opened = OPENS[1:]
        OPENS.clear()
    assert meter.bytes <= ALLOCATION_BOUND, f"{meter.bytes:,} bytes allocated"
    roots = _allowed_roots()
    assert all(p == str(path.resolve()) or p.startswith(roots) for p in opened), opened
    if model is not None:
        with torch.no_grad():
            assert model(torch.zeros(2, 1, 28, 28)).shape[0] == 2
