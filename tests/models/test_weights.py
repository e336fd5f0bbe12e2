"""Checkpoints and cached pretrained weights loaded into a model built for another class and channel count."""

import pytest
import torch
import torchvision.models as tvm

from torchslim.errors import CheckpointError, DataNotFoundError
from torchslim.models import InputSpec, ModelConfig, build_model
from torchslim.models.weights import load_weights, pretrained_file

MNIST = InputSpec(num_classes=10, in_channels=1, image_size=28)


@pytest.fixture(scope="module")
def imagenet_resnet18(tmp_path_factory):
    """A locally made stand-in for torchvision's ImageNet resnet18 file: 1000 classes, RGB stem."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-f37072fd.pth"
    state = tvm.resnet18().state_dict()
    torch.save(state, path)
    return path, state


def test_a_1000_class_rgb_checkpoint_gets_a_new_head_and_a_folded_stem(imagenet_resnet18):
    path, state = imagenet_resnet18
    model = build_model("torchvision:resnet18", MNIST)
    fresh_fc = model.fc.weight.detach().clone()
    notes = load_weights(model, path, MNIST)
    assert notes == [
        "stem adapted: conv1.weight (3 -> 1 input channels)",
        "head replaced: fc (1000 -> 10 classes, newly initialised)",
    ]
    assert torch.equal(model.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])
    assert torch.allclose(model.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.fc.weight, fresh_fc) and model.fc.out_features == 10
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_any_other_mismatch_is_one_checkpoint_error(imagenet_resnet18):
    path, _ = imagenet_resnet18
    with pytest.raises(CheckpointError, match=r"does not fit this model: .*wrong shape \(e.g. layer1.0.conv1.weight"):
        model = build_model("torchvision:resnet18", MNIST)
        model.layer1[0].conv1 = torch.nn.Conv2d(64, 32, 3, padding=1, bias=False)
        load_weights(model, path, MNIST)


def test_torchvision_pretrained_reads_torch_home_and_never_downloads(imagenet_resnet18, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(DataNotFoundError, match=f"place resnet18-f37072fd.pth .* at {expected} .*never downloads"):
        pretrained_file("torchvision:resnet18")
    expected.parent.mkdir(parents=True)
    expected.write_bytes(imagenet_resnet18[0].read_bytes())
    notes = []
    model = build_model(ModelConfig(name="torchvision:resnet18", pretrained=True), MNIST, notes)
    assert torch.equal(model.layer4[1].conv2.weight, imagenet_resnet18[1]["layer4.1.conv2.weight"])
    assert notes[-1] == "head replaced: fc (1000 -> 10 classes, newly initialised)"


def test_timm_pretrained_reads_the_hugging_face_cache(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="place model.safetensors from the Hugging Face repo timm/resnet18"):
        pretrained_file("timm:resnet18")
    repo = tmp_path / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    torch.manual_seed(1)
    state = timm.create_model("resnet18", pretrained=False).state_dict()
    save_file(state, str(repo / "snapshots" / "abc123" / "model.safetensors"))
    model = build_model(ModelConfig(name="timm:resnet18", pretrained=True), MNIST)
    assert torch.equal(model.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "resnet20", "pretrained": True}, "pretrained: true is for torchvision: and timm: models"),
        ({"name": "torchvision:resnet18", "pretrained": True, "checkpoint": "w.pt"}, "not both"),
    ],
)
def test_pretrained_where_it_cannot_apply_is_refused(entry, message):
    with pytest.raises((CheckpointError, ValueError), match=message):
        build_model(ModelConfig.model_validate(entry), MNIST)


def test_pretrained_shows_in_the_label_and_keeps_other_keys():
    assert ModelConfig(name="timm:resnet18", pretrained=True).label == "timm:resnet18[pretrained]"
    assert ModelConfig(name="timm:resnet18").label == "timm:resnet18"
