"""ONNX Runtime's calibration-reader protocol over torchslim's calibration batches."""

from __future__ import annotations

import torch


class TensorReader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of batches."""

    def __init__(self, input_name: str, batches: list[torch.Tensor]):
        self.input_name = input_name
        self._batches = batches
        self._it = iter(batches)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self.input_name: x.numpy()}

    def rewind(self) -> None:
        self._it = iter(self._batches)
