"""A deployed ONNX file run as a module, ``model(x)``, by any registered runtime that loads ONNX files.

Evaluation, the quantizers and the API call this: a new runtime that gives its variants a predictor
runs deployed files here too, with no other file edited. ONNX Runtime is the default, as the INT8
files are written for it (QDQ)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchslim.errors import ConfigError
from torchslim.export.deployed import DeployedFile
from torchslim.runtimes.base import RUNTIMES, runtime_facts


class OnnxModel(DeployedFile):
    """``runtime`` names a registered runtime that loads ONNX files; its first variant that can predict
    (or the one computing in ``runtime_precision``) runs the file, built on the first call."""

    def __init__(
        self,
        onnx_path: Path,
        reference: nn.Module,
        precision: str,
        threads: int | None = None,
        runtime: str = "onnxruntime",
        runtime_precision: str | None = None,
    ):
        super().__init__(onnx_path, reference, precision)
        facts = runtime_facts(runtime)  # an unknown name: the registry's one line with the valid ones
        if facts.loads != "onnx":
            onnx = [n for n in RUNTIMES.names() if runtime_facts(n).loads == "onnx"]
            raise ConfigError(f"runtime '{runtime}' runs modules, not ONNX files; choose one of: {', '.join(onnx)}")
        self.runtime, self._runtime_precision, self._threads = runtime, runtime_precision, threads
        self._predict = None

    def predictor(self):
        if self._predict is None:
            facts = runtime_facts(self.runtime)
            why = facts.missing()
            if why:
                raise ConfigError(why)
            asked = (self._runtime_precision,) if self._runtime_precision else facts.precisions
            usable = [v for v in facts.variants(asked) if v.predictor is not None]
            if self._runtime_precision:
                usable = [v for v in usable if v.precision in (self._runtime_precision, "file")]
            if not usable:
                raise ConfigError(f"runtime '{self.runtime}' has no variant that runs a file here")
            self._predict = usable[0].predictor(self.onnx_path, self._threads or os.cpu_count() or 1)
        return self._predict

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The file's output; a tuple, in the file's order, when it has several."""
        outs = [torch.from_numpy(np.asarray(o)) for o in self.predictor()(x.detach().float().numpy())]
        return outs[0] if len(outs) == 1 else tuple(outs)
