"""The Python API on a model no registry knows: save and load through a builder, evaluate any data."""

import pytest
import torch
import torch_pruning as tp
from torch import nn

import torchslim
from torchslim.errors import CheckpointError, ConfigError


class MyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(self.pool(torch.relu(self.conv2(x))).flatten(1))


def pruned_net() -> MyNet:
    torch.manual_seed(0)
    model = MyNet().eval()
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(1, 1, 12, 12))
    graph.get_pruning_group(model.conv1, tp.prune_conv_out_channels, idxs=list(range(8))).prune()
    graph.get_pruning_group(model.conv2, tp.prune_conv_out_channels, idxs=[0, 5, 9]).prune()
    return model


def test_a_pruned_user_model_loads_back_exactly_through_its_builder(tmp_path):
    model = pruned_net()
    assert model.conv1.out_channels == 8 and model.fc.in_features == 29
    loaded = torchslim.load(torchslim.save(model, tmp_path / "net.pt"), builder=MyNet)
    x = torch.randn(4, 1, 12, 12)
    assert torch.equal(loaded(x), model(x))
    assert loaded.conv1.out_channels == 8 and loaded.fc.in_features == 29


def test_without_a_builder_a_user_model_names_what_to_pass(tmp_path):
    path = torchslim.save(MyNet(), tmp_path / "net.pt")
    with pytest.raises(ConfigError, match="holds a tests.test_api.MyNet, which no registry knows: pass builder="):
        torchslim.load(path)


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format": "torchslim.model/2", "x": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="never unpickles"):
        torchslim.load(tmp_path / "evil.pt", builder=MyNet)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["dataset", "dataloader", "batches"])
def test_evaluate_takes_a_dataset_a_dataloader_or_batches(kind):
    torch.manual_seed(0)
    x, y = torch.randn(50, 1, 12, 12), torch.randint(0, 10, (50,))
    ds = torch.utils.data.TensorDataset(x, y)
    data = {
        "dataset": ds,
        "dataloader": torch.utils.data.DataLoader(ds, batch_size=7),
        "batches": [(x[:20], y[:20]), (x[20:], y[20:])],
    }[kind]
    model = MyNet().eval()
    acc = torchslim.evaluate(model, data)
    expected = 100.0 * float((model(x).argmax(1) == y).float().mean())
    assert acc.n == 50 and acc.top1 == pytest.approx(expected)


class DictNet(MyNet):
    def forward(self, x):
        return {"logits": super().forward(x)}


class TupleNet(MyNet):
    def forward(self, x):
        return super().forward(x), x


X = torch.randn(8, 1, 12, 12)
OFF = torchslim.BenchConfig(runtimes=[])


@pytest.mark.parametrize("net, outputs", [(DictNet, 1), (TupleNet, 2)])
def test_a_model_without_one_output_tensor_is_quantized_with_every_output_kept(net, outputs, tmp_path):
    """Issue 35, defect 19 ("'dict' object has no attribute 'shape'"), then issue 37: such a model now
    compresses; its INT8 file returns every output, each checked against the float network."""
    result = torchslim.compress(net(), "quant.dynamic", example_input=X[:1], out_dir=tmp_path, latency=OFF)
    got = result.model(X)
    assert len(got) == outputs if outputs > 1 else torch.is_tensor(got) and got.shape == (8, 10)
    assert result.parity.ok and (result.parity.outputs is None) == (outputs == 1)


@pytest.mark.parametrize(
    "labels, says",
    [
        (torch.full((8,), 12), r"label 12 is outside the model's 10 outputs \(classes 0-9\)"),
        (torch.full((8,), -1), r"label -1 is outside the model's 10 outputs"),
        (torch.full((8,), 2.5), r"labels must be class indices; got the fractional label 2.5"),
    ],
)
def test_evaluate_refuses_labels_the_model_cannot_score(labels, says):
    """Issue 35, defect 19: out-of-range labels were an IndexError, fractional ones silently truncated."""
    with pytest.raises(ConfigError, match=says):
        torchslim.evaluate(MyNet(), [(X, labels)])


def test_whole_float_labels_are_class_indices():
    assert torchslim.evaluate(MyNet(), [(X, torch.zeros(8))]).n == 8


def test_evaluate_of_nothing_is_one_line():
    """Issue 35, defect 19: evaluate([]) was a ZeroDivisionError."""
    with pytest.raises(ConfigError, match="nothing to evaluate: the data holds no images"):
        torchslim.evaluate(MyNet(), [])


@pytest.mark.parametrize("device", ["mps", "tpu", "meta"])
def test_a_device_torchslim_does_not_run_on_is_one_line(device, tmp_path):
    """Issue 35, defect 19."""
    with pytest.raises(ConfigError, match=rf"device '{device}' is not one torchslim runs on; choose auto, cpu"):
        torchslim.compress(MyNet(), "quant.dynamic", example_input=X[:1], device=device, out_dir=tmp_path)


def test_save_to_a_folder_is_one_line_and_leaves_nothing(tmp_path):
    """Issue 35, defect 19: save() to a folder left '<dir>.tmp' beside it."""
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError, match=r"save: '.*out' is a folder; give a file path such as '.*out/model.pt'"):
        torchslim.save(MyNet(), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_nan_images_are_evaluated_with_a_warning(capsys):
    """Issue 35, defect 22: NaN inputs gave an accuracy and no warning."""
    x = X.clone()
    x[:3] = float("nan")
    acc = torchslim.evaluate(MyNet(), [(x, torch.zeros(8, dtype=torch.long))])
    assert acc.n == 8
    assert "warning 3 of 8 images hold NaN or infinite values" in " ".join(capsys.readouterr().err.split())
