"""The YOLO recipe: attention and the final head convolutions are kept, everything else shrinks."""

import pytest
import torch

from torchslim.measurement.complexity import count_flops, count_params
from torchslim.yolo.prune import detector_pruner, protected_modules


def shapes(modules):
    """Output widths of every conv inside (their inputs may shrink with the layers that feed them)."""
    return [c.out_channels for m in modules for c in m.modules() if isinstance(c, torch.nn.Conv2d)]


@pytest.mark.parametrize("level, min_flops_cut", [(0.3, 0.40), (0.5, 0.60)])
def test_pruning_cuts_flops_and_keeps_the_output_format(yolo11n, level, min_flops_cut):
    kept = protected_modules(yolo11n)
    kept_shapes = shapes(kept)
    hidden = yolo11n.model[-1].cv2[0][0].conv.out_channels
    flops0, params0 = count_flops(yolo11n, (3, 128, 128)), count_params(yolo11n)[0]
    pruner = detector_pruner(yolo11n, level, 1, 128)
    pruner.step()
    yolo11n.eval()
    out = yolo11n(torch.randn(2, 3, 128, 128))[0]
    assert out.shape == (2, 4 + 3, (16 * 16 + 8 * 8 + 4 * 4))  # boxes + 3 classes per anchor
    assert shapes(kept) == kept_shapes  # attention, final convs and DFL untouched
    assert 1 - count_flops(yolo11n, (3, 128, 128)) / flops0 >= min_flops_cut
    assert count_params(yolo11n)[0] < params0
    assert yolo11n.model[-1].cv2[0][0].conv.out_channels < hidden  # the head's hidden convs are pruned too


def test_attention_and_head_outputs_are_protected(yolo11n):
    names = {type(m).__name__ for m in protected_modules(yolo11n)}
    assert {"C2PSA", "Attention", "DFL", "Conv2d"} <= names


def test_kept_widths_round_to_the_nearest_multiple(yolo11n):
    protected = {id(c) for m in protected_modules(yolo11n) for c in m.modules()}
    flops0 = count_flops(yolo11n, (3, 128, 128))
    detector_pruner(yolo11n, 0.05, 1, 128, round_to=8).step()
    widths = [c.out_channels for c in yolo11n.modules() if isinstance(c, torch.nn.Conv2d) and id(c) not in protected]
    assert all(w % 8 == 0 for w in widths)
    assert 0.0 < 1 - count_flops(yolo11n, (3, 128, 128)) / flops0 < 0.10  # 5 % stays small (flooring gave 25 %)
