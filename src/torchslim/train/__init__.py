"""Deterministic training, fine-tuning and (later) distillation."""

from torchslim.train.config import TrainConfig
from torchslim.train.trainer import TrainResult, fit

__all__ = ["TrainConfig", "TrainResult", "fit"]
