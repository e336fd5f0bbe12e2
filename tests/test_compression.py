"""``torchslim.compress`` on a model no registry knows, trained by the caller's own loop on plain tensors."""

from pathlib import Path

import onnx
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import torchslim
from torchslim.errors import ConfigError, UnknownNameError
from torchslim.methods.registry import METHODS
from torchslim.prune.structured import StructuredConfig
from torchslim.quant.ort_int8 import StaticConfig


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = nn.functional.interpolate(torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0, size=16)
    y = torch.tensor(d.target)
    return torch.utils.data.TensorDataset(x[:1400], y[:1400]), torch.utils.data.TensorDataset(x[1400:], y[1400:])


def own_loop(train, calls):
    def finetune(model, epochs):
        calls.append((model, epochs))
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(epochs):
            for xb, yb in torch.utils.data.DataLoader(train, batch_size=64, shuffle=True):
                opt.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()
                opt.step()

    return finetune


@pytest.fixture(scope="module")
def trained(digits):
    torch.manual_seed(0)
    model = DigitNet()
    own_loop(digits[0], [])(model, 3)
    return model.eval()


def test_prune_then_int8_gives_a_smaller_onnx_file_measured_on_the_callers_data(trained, digits, tmp_path):
    train, test = digits
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    calls = []
    result = torchslim.compress(
        trained,
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 1}}, {"quant.static": {"calibration_samples": 128}}],
        example_input=torch.zeros(1, 1, 16, 16),
        train_data=train,
        eval_data=torch.utils.data.DataLoader(test, batch_size=50),
        finetune=own_loop(train, calls),
        out_dir=tmp_path,
    )
    # the caller's loop did the fine-tuning, on the pruned copy, never on their model
    assert len(calls) == 1 and calls[0][1] == 1 and calls[0][0] is not trained
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items())
    # an INT8 ONNX file with at least 2x fewer MACs
    assert result.artifact == tmp_path / "model.onnx" and result.artifact.is_file()
    ops = {n.op_type for n in onnx.load(str(result.artifact)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert result.macs_reduction >= 2.0
    assert result.measurement.size.bytes == result.artifact.stat().st_size
    # parity of the float network's export, and the INT8 file agrees with it on the caller's images
    assert result.parity.max_abs_diff <= result.parity.tolerance
    assert result.int8_agreement >= 0.95
    # accuracy on the caller's data, before and after
    assert result.accuracy.n == len(test) == result.original_accuracy.n
    assert result.original_accuracy.top1 > 60 and result.accuracy.top1 > result.original_accuracy.top1 - 10
    assert torchslim.evaluate(result.model, test).top1 == pytest.approx(result.accuracy.top1)
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    "recipe",
    [
        "[{prune.structured: {ratio: 0.5, finetune_epochs: 0}}]",
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}],
        {"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}},
        [StructuredConfig(ratio=0.5, finetune_epochs=0)],
    ],
    ids=["yaml", "list", "mapping", "config-object"],
)
def test_a_recipe_is_yaml_a_list_or_method_configs(recipe, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = torchslim.compress(
        trained,
        recipe,
        example_input=torch.zeros(1, 1, 16, 16),
        out_dir="out",
        latency=torchslim.BenchConfig(runtimes=[]),
    )
    assert result.chain == "prune.structured(ratio=0.5,finetune_epochs=0)"
    assert result.pt_path == Path("out/model.pt") and result.onnx_path == Path("out/model.onnx")
    assert result.pt_path.is_file() and result.onnx_path.is_file() and result.artifact == result.pt_path
    assert result.accuracy is None and result.parity.max_abs_diff <= result.parity.tolerance
    assert result.model.body[0].out_channels == 16
    assert torch.equal(
        torchslim.load(result.pt_path, builder=DigitNet)(torch.ones(2, 1, 16, 16)),
        result.model(torch.ones(2, 1, 16, 16)),
    )


#: the data each method needs first, when it is given no data at all (fine-tuning switched on where it is optional)
NEEDS = {
    "prune.structured": ({"ratio": 0.5, "importance": "taylor", "finetune_epochs": 0}, "calibration_data="),
    "prune.unstructured": ({"sparsity": 0.5, "finetune_epochs": 1}, "train_data="),
    "prune.idap": ({}, "eval_data="),
    "prune.depth": ({"blocks": 1, "finetune_epochs": 0}, "calibration_data="),
    "prune.sfp": ({"ratio": 0.5, "epochs": 1}, "train_data="),
    "prune.swd": ({"ratio": 0.5, "epochs": 1}, "train_data="),
    "prune.obc": ({"ratio": 0.5}, "calibration_data= or train_data="),
    "quant.static": ({}, "calibration_data= or train_data="),
    "quant.qat": ({}, "calibration_data= or train_data="),
    "quant.dynamic": None,
    "quant.lowbit": ({}, "train_data="),
    "quant.hawq": ({"size_budget": 0.5}, "calibration_data= or train_data="),
    "distill.kd": ({}, "train_data="),
    "finetune": ({"epochs": 1}, "train_data="),
}


@pytest.mark.parametrize("name", METHODS.names())
def test_a_method_without_the_data_it_needs_names_the_missing_argument(name, trained, tmp_path):
    if NEEDS[name] is None:  # runs on the model alone
        result = torchslim.compress(trained, name, example_input=torch.zeros(1, 1, 16, 16), out_dir=tmp_path)
        assert result.artifact.suffix == ".onnx" and result.accuracy is None
        return
    params, argument = NEEDS[name]
    with pytest.raises(ConfigError, match=rf"^{name}: .* needs {argument}.*pass it to torchslim.compress$"):
        torchslim.compress(trained, [{name: params}], example_input=torch.zeros(1, 1, 16, 16), out_dir=tmp_path)


def test_bad_arguments_fail_in_one_line(trained, tmp_path):
    ex = torch.zeros(1, 1, 16, 16)
    with pytest.raises(UnknownNameError, match="unknown method 'prune.magic'.*Valid choices: distill.kd"):
        torchslim.compress(trained, "prune.magic", example_input=ex, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="example_input must be one"):
        torchslim.compress(trained, "quant.dynamic", example_input=torch.zeros(16, 16), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="train_data: batch 0 is a Tensor, not an"):
        torchslim.compress(
            trained, "quant.static", example_input=ex, train_data=[torch.zeros(4, 1, 16, 16)], out_dir=tmp_path
        )
    with pytest.raises(ConfigError, match=r"eval_data images are \(1, 8, 8\), example_input is \(1, 16, 16\)"):
        bad = [(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))]
        torchslim.compress(trained, "quant.dynamic", example_input=ex, eval_data=bad, out_dir=tmp_path)
    with pytest.raises(
        ConfigError, match="StaticConfig is not a registered method's config|compress takes an nn.Module"
    ):
        torchslim.compress("resnet18", [StaticConfig()], example_input=ex, out_dir=tmp_path)


def test_compress_never_deletes_or_overwrites_what_it_did_not_write(trained, tmp_path):
    """Issue 35, defect 7: out_dir=EXISTING deleted EXISTING/work/ and overwrote the user's model.pt."""
    ex = torch.zeros(1, 1, 16, 16)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("mine")
    (tmp_path / "model.onnx").write_text("the user's")
    with pytest.raises(ConfigError, match=r"already holds model.onnx, which torchslim did not write"):
        torchslim.compress(trained, "quant.dynamic", example_input=ex, out_dir=tmp_path)
    assert (tmp_path / "model.onnx").read_text() == "the user's"
    (tmp_path / "model.onnx").unlink()
    for _ in range(2):  # beside the user's files; its own outputs it may write again
        result = torchslim.compress(trained, "quant.dynamic", example_input=ex, out_dir=tmp_path)
        assert result.artifact == tmp_path / "model.onnx"
    assert (tmp_path / "work" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "model.float.onnx",
        "model.onnx",
        "work",
    ]
    with pytest.raises(ConfigError, match=r"out_dir '.*model.onnx' is a file, not a folder"):
        torchslim.compress(trained, "quant.dynamic", example_input=ex, out_dir=tmp_path / "model.onnx")


def test_two_compress_calls_in_one_second_get_two_folders(trained, tmp_path, monkeypatch):
    """Issue 35, defect 8: both calls wrote runs/compress/<second>, so the first pt_path held the second model."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20261206-120000-")
    ex = torch.zeros(1, 1, 16, 16)
    off = torchslim.BenchConfig(runtimes=[])
    first = torchslim.compress(
        trained, {"prune.structured": {"ratio": 0.3, "finetune_epochs": 0}}, example_input=ex, latency=off
    )
    second = torchslim.compress(
        trained, {"prune.structured": {"ratio": 0.6, "finetune_epochs": 0}}, example_input=ex, latency=off
    )
    assert first.pt_path.parent != second.pt_path.parent
    assert first.pt_path.parent.name.startswith("20261206-120000-")
    assert torchslim.load(first.pt_path, builder=DigitNet).head.in_features == first.model.head.in_features
