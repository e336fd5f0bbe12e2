"""A deployed file that stands where a module stood: the ONNX file a method wrote (an INT8 QDQ file).

Quantized INT8 models get their speed in a deployment runtime, so that is where torchslim evaluates
them: accuracy, size and latency are all measured on the very file that would ship. The float module
it came from is kept as ``reference`` for what the file cannot tell cheaply: the parameter count and
the MACs of the network it computes. This layer knows only the file; which runtime runs it is the
runtime seam's business (``runtimes.deployed.OnnxModel``), so saving and the store never name one.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn


class DeployedFile(nn.Module):
    """Inference-only stand-in for a module; ``precision`` says what the file holds (e.g. 'int8-static')."""

    cpu_only = True  # a CPU deployment: evaluate() never moves it to a GPU

    def __init__(self, onnx_path: Path, reference: nn.Module, precision: str):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.precision = precision
        self._reference = [reference.eval()]  # a list hides it from .modules(): not part of this module

    @property
    def reference(self) -> nn.Module:
        return self._reference[0]

    def copy_to(self, path: Path) -> Path:
        import shutil

        path = Path(path)
        if path.resolve() != self.onnx_path.resolve():
            shutil.copyfile(self.onnx_path, path)
        return path
