"""Pruned detectors save as tensors + widths and reload, in a fresh process too, with identical outputs."""

import subprocess
import sys

import pytest
import torch

from tests.yolo.conftest import GUARD_SOURCE
from torchslim.errors import CheckpointError, ConfigError
from torchslim.methods.chain import Chain
from torchslim.models import InputSpec
from torchslim.train import TrainConfig
from torchslim.yolo.artifact import build_detector, load_detector, save_detector
from torchslim.yolo.prune import detector_context, prune_detector


@pytest.fixture
def pruned(yolo11n, tmp_path):
    chain = Chain.parse(
        {"prune.structured": {"ratio": 0.4, "importance": "l2", "depthwise": "all", "finetune_epochs": 0}}
    )
    mctx = detector_context(yolo11n, InputSpec(3, 3, 96), TrainConfig(epochs=0), 0, tmp_path)
    return prune_detector(yolo11n, chain, mctx).eval()


def test_roundtrip_in_a_fresh_process(pruned, tmp_path, ultralytics_home):
    path = tmp_path / "det.pt"
    save_detector(pruned, path)
    torch.load(path, weights_only=True)  # plain tensors and data only
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    expected = pruned(x)[0]
    loaded, desc = load_detector(path)
    assert torch.equal(loaded(x)[0], expected) and desc["nc"] == 3
    code = GUARD_SOURCE + (
        "import torch\nfrom torchslim.yolo.offline import ultralytics\n"
        f"ultralytics({str(ultralytics_home)!r})\nfrom torchslim.yolo.artifact import load_detector\n"
        f"m, _ = load_detector({str(path)!r})\nx = torch.load({str(tmp_path / 'x.pt')!r})\n"
        f"torch.save(m(x)[0], {str(tmp_path / 'y.pt')!r})\nprint('attempts', ATTEMPTS)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "attempts []" in proc.stdout
    assert torch.allclose(torch.load(tmp_path / "y.pt"), expected, rtol=1e-5, atol=1e-5)  # thread counts may differ


def test_pickled_ultralytics_weights_are_refused(ultralytics_home):
    with pytest.raises(ConfigError, match="pickle"):
        build_detector("yolo11n.pt", nc=3)


def test_corrupt_artifact_is_a_clear_error(tmp_path, ultralytics_home):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_detector(bad)
