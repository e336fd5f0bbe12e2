"""What the registered pruning methods need of an Ultralytics detector, and the chain applied to one.

What is kept whole, and why:
- attention (Attention, PSA blocks, C2PSA): their forward reshapes by a head count and splits by a
  stored width, which Torch-Pruning does not update; the kind names them (``MethodContext.protected``);
- in the head, only the final prediction convolutions (box and class) and the DFL: their widths are the
  output format (4 x reg_max box bins, nc classes). While a method traces the detector its eval forward
  gives the predictions alone (Ultralytics' export mode), so these are found as its output layers; the
  head's hidden convolutions and the neck are pruned.

The cut itself is ``prune.structured`` (or any registered method): seed 003's levels remove that fraction
of the channels of every prunable group (L2 group importance, ``depthwise: all``), the kept widths rounded
to the *nearest* multiple of ``round_to``. Odd widths (61 of 64) made low levels slower than the unpruned
model in ONNX Runtime, whose blocked convolution kernels pad them; Torch-Pruning's own rounding floors the
kept width, which turns 5 % of a 16-channel layer into 50 %.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from torch import nn

from torchslim.methods import MethodContext, apply_chain
from torchslim.methods.chain import Chain
from torchslim.metric import Metric
from torchslim.models import InputSpec
from torchslim.train import TrainConfig

PROTECTED_TYPES = ("Attention", "AAttn", "PSABlock", "C2PSA", "PSA", "A2C2f")
MAP50_95 = Metric("map50_95", "mAP50-95", higher_is_better=True)


def head_of(model: nn.Module) -> nn.Module:
    return model.model[-1]


def attention_blocks(model: nn.Module) -> list[str]:
    """Attention blocks anywhere, by name."""
    return [n for n, m in model.named_modules() if n and type(m).__name__ in PROTECTED_TYPES]


def output_convs(model: nn.Module) -> list[nn.Module]:
    """The head's last convolution of every branch and its DFL: the widths that are the output format."""
    head = head_of(model)
    out = [
        branch[-1]
        for attr in ("cv2", "cv3", "one2one_cv2", "one2one_cv3", "cv4")
        for branch in getattr(head, attr, None) or []
    ]
    return out + ([head.dfl] if isinstance(getattr(head, "dfl", None), nn.Module) else [])


@contextmanager
def forward_mode(model: nn.Module, predictions_only: bool):
    """With ``predictions_only`` the detector's eval forward returns its predictions alone (Ultralytics'
    export mode), so a method tracing the model finds the head's output convolutions as its output layers,
    not the neck's feature maps that the eval forward also returns; without it, Ultralytics' own forward
    (what its trainer's loss and its validator read)."""
    head = head_of(model)
    saved = getattr(head, "export", False)
    head.export = predictions_only
    try:
        yield model
    finally:
        head.export = saved


def detector_context(
    model: nn.Module,
    spec: InputSpec,
    finetune: TrainConfig,
    seed: int,
    folder: Path,
    tune: Callable[[nn.Module, int], None] | None = None,
    score: Callable[[nn.Module], dict[str, float]] | None = None,
) -> MethodContext:
    """A method's context on a detector: no decoded dataset (Ultralytics reads the data), its attention kept
    whole, ``tune`` (Ultralytics' trainer) as the fine-tuning and ``score`` (mAP) as each step's score."""
    mctx = MethodContext(None, spec, finetune, seed, folder)
    mctx.original = copy.deepcopy(model).eval()
    if tune is not None:

        def tune_in_own_mode(m: nn.Module, epochs: int) -> None:
            with forward_mode(m, predictions_only=False):
                tune(m, epochs)

        mctx.finetune_fn = tune_in_own_mode
    if score is not None:

        def score_in_own_mode(m: nn.Module) -> dict[str, float]:
            with forward_mode(m, predictions_only=False):
                return score(m)

        mctx.score = score_in_own_mode
    mctx.metric = MAP50_95
    mctx.protected = attention_blocks(model)
    return mctx


def prune_detector(model: nn.Module, chain: Chain, mctx: MethodContext) -> nn.Module:
    """The chain's registered methods applied to the detector, traced on its predictions alone."""
    with forward_mode(model, predictions_only=True):
        model = apply_chain(model, chain, mctx)
    head_of(model).export = False
    return model
