import torch
from torch import nn

from torchslim.measurement.complexity import complexity, count_params, file_size
from torchslim.models import build_model, default_input


def test_linear_and_conv_macs_are_exact():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    c = complexity(model, (3, 4, 4))
    conv_macs = 8 * 4 * 4 * 3 * 3 * 3
    linear_macs = 8 * 4 * 4 * 10
    assert c.macs == conv_macs + linear_macs and c.flops == 2 * c.macs
    assert c.params == 8 * 3 * 9 + 128 * 10 + 10


def test_nonzero_params_and_fraction():
    model = nn.Linear(10, 10, bias=False)
    with torch.no_grad():
        model.weight[:5] = 0
    assert count_params(model) == (100, 50)
    assert complexity(model, (10,)).nonzero_fraction == 0.5


def test_resnet20_macs_match_the_paper_scale():
    c = complexity(build_model("resnet20", default_input("resnet20")), (3, 32, 32))
    assert 39e6 < c.macs < 43e6  # He et al. report ~41 M for ResNet-20 on 32x32


def test_gzip_size_rewards_zeros(tmp_path):
    torch.save({"w": torch.zeros(10000)}, tmp_path / "z.pt")
    torch.save({"w": torch.randn(10000)}, tmp_path / "r.pt")
    z, r = file_size(tmp_path / "z.pt"), file_size(tmp_path / "r.pt")
    assert z.bytes == r.bytes and z.gzip_bytes < 0.1 * r.gzip_bytes
