"""SplitC2f computes exactly what C2f / C3k2 computed, with two convolutions instead of a chunk."""

import torch

from torchslim.yolo.modules import SplitC2f


def test_split_replaces_every_c2f_and_keeps_outputs(ultralytics_home):
    from ultralytics.nn.modules.block import C2f
    from ultralytics.nn.tasks import DetectionModel

    from torchslim.yolo.modules import split_c2f

    torch.manual_seed(0)
    model = DetectionModel("yolo11n.yaml", nc=3, verbose=False).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 96, 96)
    before = model(x)[0]
    n_c2f = sum(isinstance(m, C2f) for m in model.modules())
    assert split_c2f(model) == n_c2f == 8
    assert not any(isinstance(m, C2f) for m in model.modules())
    assert sum(isinstance(m, SplitC2f) for m in model.modules()) == 8
    assert torch.allclose(model(x)[0], before, atol=1e-5)


def test_split_layers_keep_their_graph_position(yolo11n):
    split = [m for m in yolo11n.model if isinstance(m, SplitC2f)]
    assert split and all(isinstance(m.i, int) and m.f == -1 for m in split)
