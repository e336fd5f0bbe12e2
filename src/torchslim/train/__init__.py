"""Deterministic training, fine-tuning and (later) distillation."""

from torchslim.train.config import TrainConfig
from torchslim.train.hooks import NO_HOOKS, TrainingHooks
from torchslim.train.trainer import TrainResult, fit

__all__ = ["NO_HOOKS", "TrainConfig", "TrainResult", "TrainingHooks", "fit"]
