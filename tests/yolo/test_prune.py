"""A detector cut by the registered ``prune.structured``: attention and the head's output convolutions are
kept, everything else shrinks, the output format stays."""

import pytest
import torch

from torchslim.measurement.complexity import count_flops, count_params
from torchslim.methods.chain import Chain
from torchslim.models import InputSpec
from torchslim.train import TrainConfig
from torchslim.yolo.prune import attention_blocks, detector_context, output_convs, prune_detector


def shapes(modules):
    """Output widths of every conv inside (their inputs may shrink with the layers that feed them)."""
    return [c.out_channels for m in modules for c in m.modules() if isinstance(c, torch.nn.Conv2d)]


def cut(model, ratio: float, tmp_path, **extra):
    chain = Chain.parse(
        {"prune.structured": {"ratio": ratio, "importance": "l2", "depthwise": "all", "finetune_epochs": 0, **extra}}
    )
    mctx = detector_context(model, InputSpec(3, 3, 128), TrainConfig(epochs=0), 0, tmp_path)
    return prune_detector(model, chain, mctx)


def protected(model):
    modules = dict(model.named_modules())
    return [modules[n] for n in attention_blocks(model)] + output_convs(model)


@pytest.mark.parametrize("level, min_flops_cut", [(0.3, 0.40), (0.5, 0.60)])
def test_pruning_cuts_flops_and_keeps_the_output_format(yolo11n, tmp_path, level, min_flops_cut):
    kept_shapes = shapes(protected(yolo11n))
    hidden = yolo11n.model[-1].cv2[0][0].conv.out_channels
    flops0, params0 = count_flops(yolo11n, (3, 128, 128)), count_params(yolo11n)[0]
    model = cut(yolo11n, level, tmp_path)
    out = model.eval()(torch.randn(2, 3, 128, 128))
    assert isinstance(out, tuple)  # the eval forward is Ultralytics' own again after the cut
    assert out[0].shape == (2, 4 + 3, (16 * 16 + 8 * 8 + 4 * 4))  # boxes + 3 classes per anchor
    assert shapes(protected(model)) == kept_shapes  # attention, final convs and DFL untouched
    assert 1 - count_flops(model, (3, 128, 128)) / flops0 >= min_flops_cut
    assert count_params(model)[0] < params0
    assert model.model[-1].cv2[0][0].conv.out_channels < hidden  # the head's hidden convs are pruned too


def test_attention_and_head_outputs_are_protected(yolo11n):
    names = {type(m).__name__ for m in protected(yolo11n)}
    assert {"C2PSA", "Attention", "DFL", "Conv2d"} <= names


def test_kept_widths_round_to_the_nearest_multiple(yolo11n, tmp_path):
    whole = {id(c) for m in protected(yolo11n) for c in m.modules()}
    flops0 = count_flops(yolo11n, (3, 128, 128))
    model = cut(yolo11n, 0.05, tmp_path, round_to=8)
    widths = [c.out_channels for c in model.modules() if isinstance(c, torch.nn.Conv2d) and id(c) not in whole]
    assert all(w % 8 == 0 for w in widths)
    assert 0.0 < 1 - count_flops(model, (3, 128, 128)) / flops0 < 0.10  # 5 % stays small (flooring gave 25 %)


def test_fine_tuning_without_the_kinds_trainer_is_one_clear_error(yolo11n, tmp_path):
    from torchslim.errors import TorchslimError

    chain = Chain.parse({"prune.structured": {"ratio": 0.3, "finetune_epochs": 1}})
    mctx = detector_context(yolo11n, InputSpec(3, 3, 128), TrainConfig(epochs=0), 0, tmp_path)
    with pytest.raises(TorchslimError, match="no fine-tuning"):
        prune_detector(yolo11n, chain, mctx)
