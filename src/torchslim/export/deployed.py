"""A deployed ONNX artifact that behaves like a module: ``model(x)`` runs ONNX Runtime.

Quantized INT8 models get their speed in ONNX Runtime, so that is where torchslim evaluates them:
accuracy, size and latency are all measured on the very file that would ship. The float module it
came from is kept as ``reference`` for what the ONNX file cannot tell cheaply: the parameter count
and the MACs of the network it computes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchslim.export.onnx import checked_session


class OnnxModel(nn.Module):
    """Inference-only wrapper; ``precision`` says what the file holds (e.g. 'int8-static')."""

    cpu_only = True  # ONNX Runtime on the CPU: evaluate() never moves it to a GPU

    def __init__(self, onnx_path: Path, reference: nn.Module, precision: str, threads: int | None = None):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.precision = precision
        self._reference = [reference.eval()]  # a list hides it from .modules(): not part of this module
        self._threads = threads
        self._session = None

    @property
    def reference(self) -> nn.Module:
        return self._reference[0]

    def session(self):
        if self._session is None:
            import os

            self._session = checked_session(self.onnx_path, self._threads or os.cpu_count() or 1)
        return self._session

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The file's output; a tuple, in the file's order, when it has several."""
        sess = self.session()
        feed = {sess.get_inputs()[0].name: np.ascontiguousarray(x.detach().float().numpy())}
        outs = [torch.from_numpy(o) for o in sess.run(None, feed)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def copy_to(self, path: Path) -> Path:
        import shutil

        path = Path(path)
        if path.resolve() != self.onnx_path.resolve():
            shutil.copyfile(self.onnx_path, path)
        return path
