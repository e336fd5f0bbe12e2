"""Parameters (total and non-zero), MACs/FLOPs per image, and the size of a saved artifact.

MACs and FLOPs come from PyTorch's own ``torch.utils.flop_counter.FlopCounterMode``. It counts the
operations that dominate inference cost: convolutions, matrix products (``mm``, ``addmm``,
``bmm``, linear layers) and scaled-dot-product attention, at 2 FLOPs per multiply-accumulate.
It does not count batch norm, activations, pooling or element-wise additions (a few percent of a
CNN's work). MACs are reported as FLOPs / 2, per image at the model's input shape. The counts are
dense: zeroed weights of unstructured pruning still count, since dense kernels still run them.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

COUNTER = "torch.utils.flop_counter.FlopCounterMode (conv, matmul, attention; 2 FLOPs per MAC)"


@dataclass(frozen=True)
class Complexity:
    params: int
    nonzero_params: int
    macs: int  # per image
    flops: int  # per image

    @property
    def nonzero_fraction(self) -> float:
        return self.nonzero_params / self.params if self.params else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"nonzero_fraction": self.nonzero_fraction, "counter": COUNTER}


@dataclass(frozen=True)
class FileSize:
    bytes: int
    gzip_bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, non-zero) over parameters; shared tensors are counted once."""
    seen, total, nonzero = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return total, nonzero


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on a single image of ``input_shape`` (C, H, W)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    grad_params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    try:  # parameters passed as module arguments (Brevitas scales) trip the counter's grad hooks
        for p in grad_params:
            p.requires_grad_(False)
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape))
    finally:
        for p in grad_params:
            p.requires_grad_(True)
        model.train(was_training)
    return int(counter.get_total_flops())


def complexity(model: nn.Module, input_shape: tuple[int, ...]) -> Complexity:
    total, nonzero = count_params(model)
    flops = count_flops(model, input_shape)
    return Complexity(params=total, nonzero_params=nonzero, macs=flops // 2, flops=flops)


def file_size(path: Path) -> FileSize:
    """Bytes on disk, and gzip-compressed (level 6): zeros of a sparse file compress, dense floats do not."""
    data = Path(path).read_bytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return FileSize(bytes=len(data), gzip_bytes=len(buf.getvalue()))
