"""The training loop: deterministic, checkpointed every epoch, resumable, fails fast on NaN."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from torchslim.data import BatchLoader, DataBundle
from torchslim.device import current
from torchslim.errors import BelowBudget, ConfigError, TrainingDivergedError
from torchslim.export.checkpoint import read_checkpoint, save_atomic
from torchslim.measurement.accuracy import Accuracy, evaluate
from torchslim.train.config import TrainConfig
from torchslim.train.determinism import epoch_seed
from torchslim.train.hooks import NO_HOOKS, TrainingHooks
from torchslim.ui import training_progress

# Called with each epoch checkpoint once it is on disk: a cluster worker copies it to the driver,
# so that a retry on another node resumes from it.
CHECKPOINT_LISTENERS: list[Callable[[Path], None]] = []


@dataclass
class TrainResult:
    accuracy: Accuracy
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    train_seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        secs = sum(h["seconds"] for h in self.history)
        imgs = sum(h["images"] for h in self.history)
        return imgs / secs if secs else 0.0


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weights only: decaying biases and norm scales hurts small nets."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    total_steps = max(1, total_steps)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=cfg.lr,
            total_steps=total_steps,
            pct_start=max(cfg.warmup_fraction, 1e-3),
            anneal_strategy="cos",
            div_factor=25.0,
            final_div_factor=1e3,
            cycle_momentum=False,
        )
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def use_channels_last(model: nn.Module, cfg: TrainConfig) -> bool:
    """NHWC lets oneDNN skip its layout conversions around every convolution: a training step of the
    MNIST demo's CNNs takes 0.70-0.78 of the NCHW time on one or two threads, at 8x8 inputs too."""
    if cfg.channels_last != "auto":
        return bool(cfg.channels_last)
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def fit(
    model: nn.Module,
    data: DataBundle,
    cfg: TrainConfig,
    seed: int,
    checkpoint: Path | None = None,
    hooks: TrainingHooks = NO_HOOKS,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``model`` in place, resuming from ``checkpoint`` if a previous run left one.

    ``hooks`` (``train.hooks``) are a method's additions: callbacks around each epoch (QAT's freeze
    schedule, soft filter pruning's zeroing), after each step, and a penalty added to the loss
    (selective weight decay). ``loss(logits, labels, images)`` replaces the cross-entropy, e.g. by a
    distillation loss that runs a teacher on the images.
    """
    if cfg.epochs > 0 and len(data.train) < cfg.batch_size:
        raise ConfigError(
            f"batch_size {cfg.batch_size} is larger than the training split ({len(data.train)} images): "
            "not one step would be trained; lower the batch size"
        )
    cfg = cfg.model_copy(update={"channels_last": use_channels_last(model, cfg)})
    place = current()
    train_loader = BatchLoader(data.train, data.info, cfg.batch_size, train=True, seed=seed, device=place.device)
    # no evaluation split (the Python API without eval_data): epochs are not judged, accuracy is unknown
    eval_loader = (
        None if not data.has_eval else BatchLoader(data.eval, data.info, cfg.eval_batch_size, device=place.device)
    )
    model.to(place.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    try:
        return _fit(model, data, cfg, seed, (train_loader, eval_loader), checkpoint, hooks, loss)
    finally:
        model.to("cpu")  # graph surgery, export and measurement work on the CPU copy
        if cfg.channels_last:  # back to NCHW: the layout a saved and reloaded model has, so both compute alike
            model.to(memory_format=torch.contiguous_format)


def _fit(model, data, cfg, seed, loaders, checkpoint, hooks: TrainingHooks, loss) -> TrainResult:
    train_loader, eval_loader = loaders
    place = current()
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, cfg.epochs * len(train_loader))
    ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    criterion = loss or (lambda logits, y, _x: ce(logits, y))
    ema = _ema(model, cfg)
    result = TrainResult(accuracy=Accuracy(0.0, 0.0, math.nan, 0))
    start_epoch = _resume(checkpoint, (model, ema), opt, sched, result)
    judged = model if ema is None else ema.module
    last: Accuracy | None = None  # the last epoch's evaluation: the final one when no EMA replaces the weights
    t0 = time.perf_counter()
    with training_progress(cfg.epochs * len(train_loader), start_epoch * len(train_loader)) as bar:
        for epoch in range(start_epoch, cfg.epochs):
            hooks.start(epoch)
            stats = _train_epoch((model, ema), train_loader, epoch, (opt, sched, criterion, place, hooks), cfg, bar)
            hooks.end(epoch)
            if eval_loader is not None:
                last = evaluate(judged, eval_loader, cfg.channels_last)
                stats.update({f"eval_{k}": v for k, v in last.as_dict().items()})
            if cfg.control.test_curve and data.test is not None:  # recorded for the curve, never read to choose
                stats["test_top1"] = evaluate(
                    judged,
                    BatchLoader(data.test, data.info, cfg.eval_batch_size, device=place.device),
                    cfg.channels_last,
                ).top1
            result.history.append(stats)
            judged_text = f"{data.info.eval_split} top-1 {stats['eval_top1']:.2f}%  " if eval_loader is not None else ""
            bar.note(
                f"epoch {epoch + 1}/{cfg.epochs}  {judged_text}"
                f"loss {stats['train_loss']:.4f}  {stats['images'] / max(stats['seconds'], 1e-9):.0f} img/s  "
                f"{stats['seconds']:.0f} s"
            )
            if checkpoint is not None:
                save_atomic(_checkpoint_blob((model, ema), opt, sched, epoch + 1, result.history), checkpoint)
                for listener in CHECKPOINT_LISTENERS:
                    listener(checkpoint)
            abandon_if_below(cfg, epoch, stats)
    result.train_seconds = time.perf_counter() - t0
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    if eval_loader is not None:
        result.accuracy = last if last is not None and ema is None else evaluate(model, eval_loader, cfg.channels_last)
    return result


def abandon_if_below(cfg: TrainConfig, epoch: int, stats: dict[str, float]) -> None:
    """A search trial that is already below its budget after its first epoch will not make it:
    stop it (after its checkpoint is saved, so the same task run plainly resumes from there)."""
    if cfg.control.abandon_below is None or epoch != 0 or "eval_top1" not in stats:
        return
    floor = cfg.control.abandon_below
    if stats["eval_top1"] < floor:
        raise BelowBudget(
            f"top-1 {stats['eval_top1']:.2f}% after the first fine-tuning epoch is below {floor:.2f}% "
            "(the search's budget less its margin): trial stopped early"
        )


def _ema(model: nn.Module, cfg: TrainConfig) -> AveragedModel | None:
    """torch's own EMA (buffers too, so the BN statistics match the averaged weights)."""
    if cfg.ema_decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)


def _train_epoch(models, loader: BatchLoader, epoch: int, parts, cfg: TrainConfig, bar) -> dict[str, float]:
    model, ema = models
    opt, sched, criterion, place, hooks = parts
    scaler = place.scaler()
    model.train()
    loader.set_epoch(epoch)
    torch.manual_seed(epoch_seed(loader.seed, epoch))
    loss_sum, correct, seen = 0.0, 0, 0
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with place.autocast():
            logits = model(x)
            loss = criterion(logits, y, x)
            if hooks.penalty is not None:
                loss = loss + hooks.penalty(epoch * len(loader) + step)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"training diverged: loss is {float(loss.detach())} at epoch {epoch + 1}, step {step + 1} "
                f"(lr {sched.get_last_lr()[0]:.3g}); lower train.lr or check the data"
            )
        opt.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        sched.step()
        if hooks.after_step is not None:
            hooks.after_step(epoch * len(loader) + step)
        if ema is not None:
            ema.update_parameters(model)
        loss_sum += float(loss.detach()) * len(y)
        if torch.is_tensor(logits) and logits.ndim == 2:  # class scores; images or a dict of outputs have none
            correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        elapsed = time.perf_counter() - t0
        bar.advance(
            f"ep {epoch + 1}/{cfg.epochs} loss {loss_sum / seen:.4f} acc {100 * correct / seen:.1f}% "
            f"{seen / max(elapsed, 1e-9):.0f} img/s"
        )
    secs = time.perf_counter() - t0
    return {
        "epoch": epoch + 1,
        "train_loss": loss_sum / max(seen, 1),
        "train_top1": 100.0 * correct / max(seen, 1),
        "images": seen,
        "seconds": secs,
        "lr": sched.get_last_lr()[0],
    }


def _checkpoint_blob(models, opt, sched, epochs_done: int, history) -> dict[str, Any]:
    model, ema = models
    return {
        "model": model.state_dict(),
        "ema": None if ema is None else ema.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epochs_done": epochs_done,
        "history": history,
    }


def _resume(checkpoint: Path | None, models, opt, sched, result: TrainResult) -> int:
    if checkpoint is None or not checkpoint.exists():
        return 0
    blob = read_checkpoint(checkpoint)
    model, ema = models
    model.load_state_dict(blob["model"])
    if ema is not None and blob.get("ema") is not None:
        ema.load_state_dict(blob["ema"])
    opt.load_state_dict(blob["optimizer"])
    sched.load_state_dict(blob["scheduler"])
    result.history = list(blob["history"])
    result.resumed_from_epoch = int(blob["epochs_done"])
    return result.resumed_from_epoch
