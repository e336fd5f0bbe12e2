"""What a method may use while it is applied: data, the input spec, fine-tuning settings, a folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from torchslim.data import BatchLoader, DataBundle
from torchslim.data.sampling import calibration_split
from torchslim.errors import TorchslimError
from torchslim.measurement.accuracy import evaluate
from torchslim.measurement.complexity import count_flops, count_params
from torchslim.metric import TOP1, Metric
from torchslim.models.base import InputSpec
from torchslim.train import NO_HOOKS, TrainConfig, TrainingHooks, fit
from torchslim.train.distillation import kd_loss

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Finetune = Callable[[nn.Module, int], None]


@dataclass
class MethodContext:
    """Data for fine-tuning and importance, the input spec, the seed and the task's folder."""

    data: DataBundle
    spec: InputSpec
    finetune: TrainConfig  # the recipe's fine-tuning settings; each method sets its own epochs
    seed: int
    workdir: Path
    notes: dict[str, Any] = field(default_factory=dict)
    original: nn.Module | None = None  # the trained model the chain started from (teacher for distillation)
    finetune_fn: Finetune | None = None  # the caller's own training loop (Python API): replaces plain fine-tuning
    # the task kind's fine-tuning loss where a method gives none (a generator distils from the original);
    # None: cross-entropy on the labels
    default_loss: Loss | None = None
    # the task kind's score of a model (default: top-1 and top-5 on the evaluation split, in %) and its
    # primary metric, whose direction ``record_step`` applies
    score: Callable[[nn.Module], dict[str, float]] | None = None
    metric: Metric = TOP1
    # layers the task kind keeps whole whatever the method (a detector's attention blocks, whose forward
    # reshapes by a stored head count); a method that cuts channels adds them to its own protected set
    protected: list[str] = field(default_factory=list)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, *self.spec.shape)

    def calibration_batch(self, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        split = calibration_split(self.data)
        batch = min(batch, len(split))
        return next(iter(BatchLoader(split, self.data.info, batch, train=True, seed=self.seed)))

    def tune(
        self,
        model: nn.Module,
        epochs: int,
        tag: str,
        loss: Loss | None = None,
        hooks: TrainingHooks = NO_HOOKS,
        lr_scale: float = 1.0,
    ) -> nn.Module:
        """Fine-tune in place for ``epochs`` with the recipe's fine-tuning settings (0 = skip), the
        learning rate scaled by ``lr_scale``; ``loss(logits, labels, images)`` replaces cross-entropy
        (e.g. knowledge distillation) and ``hooks`` are the method's additions (``train.hooks``).

        The caller's ``finetune_fn`` (Python API) does the fine-tuning in their own loop, called one
        epoch at a time when there are epoch hooks to run between. What it cannot be handed (a special
        loss, a per-step hook or penalty) needs torchslim's trainer, and the note says which ran."""
        if epochs <= 0:
            return model
        loss = loss if loss is not None else self.default_loss
        if self.finetune_fn is not None and loss is None and not hooks.per_step:
            model.train()
            if hooks.before_epoch is None and hooks.after_epoch is None:
                self.finetune_fn(model, epochs)
            else:
                for epoch in range(epochs):
                    hooks.start(epoch)
                    self.finetune_fn(model, 1)
                    hooks.end(epoch)
            model.eval()
            self.notes.setdefault("finetune", []).append({"tag": tag, "epochs": epochs, "by": "the caller's finetune"})
            return model
        if self.data is None:  # a kind whose data only its own trainer reads (a detector's data.yaml)
            raise TorchslimError(
                f"{tag}: no fine-tuning here for {epochs} epoch(s): this task's data is read by its kind's own "
                "trainer, which was not given (MethodContext.finetune_fn)"
            )
        cfg = self.finetune.model_copy(update={"epochs": epochs, "lr": self.finetune.lr * lr_scale})
        checkpoint = Path(self.workdir) / f"finetune-{tag}.pt"
        result = fit(model, self.data, cfg, self.seed, checkpoint=checkpoint, hooks=hooks, loss=loss)
        checkpoint.unlink(missing_ok=True)
        record = {"tag": tag, "epochs": epochs}
        if self.data.has_eval:
            record["top1"] = result.accuracy.top1
        if self.finetune_fn is not None:
            record["by"] = "torchslim's trainer (the caller's finetune takes no loss or per-step hook)"
        self.notes.setdefault("finetune", []).append(record)
        return model

    def teacher_loss(self, teacher: nn.Module, temperature: float, alpha: float, chosen: bool = False) -> Loss:
        """Distillation from ``teacher`` for a method that distils (KD, IDAP++'s fine-tunes, QAT): Hinton's
        soft targets on a classifier's logits; a task with its own loss (a generator, distilled from the
        original by pixels and the discriminator's features) uses that, since softened logits are a
        classifier's (the generator's IDAP++ failed on cross-entropy over images). Its teacher is the
        original model: a teacher the user ``chosen`` (distill.kd's file) is refused in one line."""
        if self.default_loss is None:
            return kd_loss(teacher, temperature, alpha, self.finetune.label_smoothing)
        if chosen and teacher is not self.original:
            raise TorchslimError(
                "this task distils with its own loss from the model its chain started from; another teacher is "
                "not supported for it (leave teacher: unset)"
            )
        self.notes["distillation"] = "the task's own loss, from the original model"
        return self.default_loss

    def record_step(self, model: nn.Module, step: int, stage: str) -> float:
        """One row of the per-step dynamics (seed 004): MACs, params, the task's scores, wall time. Returns
        the primary metric oriented so that higher is better (top-1 as it is, FID negated)."""
        start = self.notes.setdefault("_t0", time.perf_counter())
        if self.score is not None:
            scores = self.score(model)
        else:
            acc = evaluate(model, BatchLoader(self.data.eval, self.data.info, self.finetune.eval_batch_size))
            scores = {"top1": acc.top1, "top5": acc.top5}
        self.notes.setdefault("dynamics", []).append(
            {
                "step": step,
                "stage": stage,
                "macs": count_flops(model, self.spec.shape),
                "params": count_params(model)[0],
                **scores,
                "seconds": time.perf_counter() - start,
            }
        )
        return self.metric.goodness(float(scores[self.metric.key]))
