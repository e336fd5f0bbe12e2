"""Every registered model (and a sample of torchvision/timm) builds and trains one step at its dataset's shape."""

import pytest
import torch

from torchslim.errors import CheckpointError, ConfigError, UnknownNameError
from torchslim.models import InputSpec, ModelConfig, build_model, classifier_names, default_input

ZOO = [
    ("torchvision:resnet18", InputSpec(10, 3, 32)),
    ("torchvision:resnet18", InputSpec(10, 1, 28)),
    ("torchvision:mobilenet_v3_small", InputSpec(100, 3, 32)),
    ("torchvision:efficientnet_b0", InputSpec(10, 3, 32)),
    ("timm:resnet18", InputSpec(10, 1, 28)),
    ("timm:vit_tiny_patch16_224", InputSpec(10, 3, 32)),
    ("timm:mobilenetv3_small_100", InputSpec(10, 3, 32)),
]
CASES = [(n, default_input(n)) for n in classifier_names()] + ZOO  # generators: tests/models/test_dcgan.py


@pytest.mark.parametrize("name, spec", CASES, ids=[f"{n}-{s.in_channels}x{s.image_size}" for n, s in CASES])
def test_forward_backward_at_dataset_shape(name, spec):
    torch.manual_seed(0)
    model = build_model(name, spec)
    x = torch.randn(2, *spec.shape)
    out = model(x)
    assert out.shape == (2, spec.num_classes)
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_same_seed_same_init():
    torch.manual_seed(1)
    a = build_model("resnet20", default_input("resnet20"))
    torch.manual_seed(1)
    b = build_model("resnet20", default_input("resnet20"))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("name", ["torchvision:resnet1800", "timm:resnet1800"])
def test_unknown_zoo_names_suggest(name):
    with pytest.raises(UnknownNameError, match="Did you mean"):
        build_model(name, InputSpec())


def test_builder_errors_become_config_errors():
    with pytest.raises(ConfigError, match="enhanced_lenet5 cannot be built|at least 12x12"):
        build_model("enhanced_lenet5", InputSpec(10, 1, 8))


def test_local_checkpoint_loads_and_mismatch_is_named(tmp_path):
    spec = default_input("resnet20")
    src = build_model("resnet20", spec)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    loaded = build_model(ModelConfig(name="resnet20", checkpoint=tmp_path / "w.pt"), spec)
    assert torch.equal(loaded.fc.weight, src.fc.weight)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        build_model(ModelConfig(name="resnet32", checkpoint=tmp_path / "w.pt"), spec)


def test_a_hand_built_artifact_with_mismatched_tensors_is_one_checkpoint_error(tmp_path):
    """Issue 16: a file whose tensors do not fit its own description gave a RuntimeError traceback."""
    import torch

    from torchslim.errors import CheckpointError
    from torchslim.export.checkpoint import save_model
    from torchslim.models import InputSpec, ModelConfig, build_model, describe, load_model

    spec = InputSpec(10, 1, 8)
    model = build_model("simple_cnn_6x2", spec)
    model.register_buffer("stray", torch.zeros(3))  # a key the rebuilt model does not have
    save_model(model, tmp_path / "m.pt", describe(ModelConfig(name="simple_cnn_6x2"), spec))
    with pytest.raises(CheckpointError, match=r"m.pt: its tensors do not fit the architecture it describes"):
        load_model(tmp_path / "m.pt")


class CachedBias(torch.nn.Module):
    """LeViT's pattern: an eval forward looks biases up by index and caches them in a dict."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.randn(4))
        self.register_buffer("idx", torch.tensor([3, 2, 1, 0]))
        self.cache: dict = {}

    def forward(self, x):
        if "cpu" not in self.cache:
            self.cache["cpu"] = self.bias[self.idx]
        return x.flatten(1)[:, :4] + self.cache["cpu"] * float(self.bias.sum().item())


def test_the_fake_run_of_a_loaded_model_leaves_no_fake_tensor_behind_and_skips_what_reads_values():
    """Issue 35's check runs a loaded model on fake tensors. LeViT and EfficientFormer read tensor values
    in their forward (DataDependentOutputException) and cache their attention biases: every pruned one
    failed to load, and a fake tensor left in the cache broke every later forward (issue 37's zoo check)."""
    from torchslim.models import runs_on

    model = CachedBias().eval()
    runs_on(model, (1, 2, 2))  # reads a value: not checkable on fake tensors, and not an error
    assert model.cache == {}  # nothing fake left behind
    assert model(torch.ones(2, 1, 2, 2)).shape == (2, 4)
