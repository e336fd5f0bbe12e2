"""What a compression method adds to fine-tuning, without owning the loop.

Soft filter pruning zeroes filters after every epoch, selective weight decay adds a growing penalty
at every step, QAT freezes its observers on a schedule: each is a :class:`TrainingHooks` handed to
``MethodContext.tune``, which runs it in torchslim's trainer or, epoch by epoch, around the caller's
own fine-tuning function. A method never calls ``fit`` itself, so a user's loop serves every method
that can be expressed per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class TrainingHooks:
    """Callbacks a fine-tuning loop runs; every one is optional."""

    before_epoch: Callable[[int], None] | None = None  # with the epoch index, also after a resume
    after_epoch: Callable[[int], None] | None = None  # after its last step, before it is evaluated
    after_step: Callable[[int], None] | None = None  # after each optimizer step, with the global step
    penalty: Callable[[int], torch.Tensor] | None = None  # added to the loss at each global step

    @property
    def per_step(self) -> bool:
        """Whether the hooks need every step: only torchslim's own trainer can run them."""
        return self.after_step is not None or self.penalty is not None

    def start(self, epoch: int) -> None:
        if self.before_epoch is not None:
            self.before_epoch(epoch)

    def end(self, epoch: int) -> None:
        if self.after_epoch is not None:
            self.after_epoch(epoch)


NO_HOOKS = TrainingHooks()
