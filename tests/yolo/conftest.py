"""Detector fixtures: Ultralytics imported offline once per session, a socket guard for fresh processes."""

from __future__ import annotations

import pytest
import torch

# For scripts run in a fresh process: the package's guard (itself tested in test_offline.py).
GUARD_SOURCE = "from torchslim.yolo.offline import refuse_network\nATTEMPTS = refuse_network()\n"


@pytest.fixture(scope="session")
def ultralytics_home(tmp_path_factory):
    from torchslim.yolo.offline import ultralytics

    home = tmp_path_factory.mktemp("ultralytics")
    ultralytics(home, threads=torch.get_num_threads())
    return home


@pytest.fixture
def yolo11n(ultralytics_home):
    from torchslim.yolo.artifact import build_detector

    torch.manual_seed(0)
    model = build_detector("yolo11n.yaml", nc=3).eval()
    for m in model.modules():  # non-trivial BN statistics, so a wrong channel shows in the outputs
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model
