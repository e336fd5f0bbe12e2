"""The ``train:`` section of a config, in three parts with three roles.

- :class:`OptimizerSettings`: what is computed (epochs, optimizer, schedule, layout); all of it enters
  a task's key.
- :class:`Placement`: where it is computed (device, precision, threads). ``device`` and ``precision``
  enter the key only when stated (the row records where a task ran), ``threads`` always, as before.
- :class:`SearchControl`: how ``torchslim search`` steers a trial; never in the key, since a trial that
  finishes computes exactly what the same task computes without it.

A user writes the section flat (``train: {lr: 0.1, device: cuda}``) and it is stored flat; the split is
the code's, so that no field is dropped from the key by hand and keys stored before the split hold.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_serializer, model_validator

from torchslim.device import DEVICE_PATTERN


class OptimizerSettings(BaseModel):
    """What a fit computes: every field enters the task's key."""

    model_config = ConfigDict(extra="forbid")

    epochs: StrictInt = Field(10, ge=0)
    batch_size: StrictInt = Field(128, gt=0)
    eval_batch_size: StrictInt = Field(500, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0, description="peak learning rate")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0, description="not applied to biases and norm layers")
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_fraction: float = Field(0.15, ge=0, lt=1, description="share of steps spent warming up (onecycle)")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    ema_decay: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="keep an exponential moving average of the weights (and BN statistics) "
        "with this decay per step, evaluate and keep it; e.g. 0.999. Off by default",
    )
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="NHWC memory format; auto = on for conv nets (a step takes 0.70-0.78 of the NCHW time here)"
    )
    deterministic: bool = True


class Placement(BaseModel):
    """Where a fit computes; ``device`` and ``precision`` enter the key only when stated."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(None, gt=0, description="intra-op threads; fixed and recorded (default: all cores)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N; auto = CUDA when torch sees a GPU")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto = bf16 autocast on CUDA, fp32 on the CPU; fp16 (CUDA only) scales the loss"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"'{value}' is not a device; choose auto, cpu, cuda or cuda:N")
        return value

    def key(self) -> dict[str, Any]:
        """The threads always; the machine choices only when stated (results stored before they existed
        keep their keys, and where an ``auto`` task ran is recorded in its row)."""
        out: dict[str, Any] = {"threads": self.threads}
        return out | {k: getattr(self, k) for k in ("device", "precision") if getattr(self, k) != "auto"}


class SearchControl(BaseModel):
    """How a fit is steered (``torchslim search`` sets abandon_below on its trials) and what it records
    besides; never part of a key."""

    model_config = ConfigDict(extra="forbid")

    abandon_below: float | None = Field(
        None,
        description="stop with BelowBudget when the evaluated top-1 after the first epoch of a fit is below "
        "this (set by torchslim search on its trials; not part of a task's key: a trial that finishes "
        "computes exactly what the same task computes without it)",
    )
    test_curve: bool = Field(
        False,
        description="also record top-1 on the separate test split (dataset.test_root) after every epoch: a curve "
        "to show, never read to choose anything, so not part of a task's key",
    )


# The order the section has always been written and hashed in (a field added later goes at the end)
FLAT_ORDER = (
    *("epochs", "batch_size", "eval_batch_size", "optimizer", "lr", "momentum", "nesterov", "weight_decay"),
    *("schedule", "warmup_fraction", "label_smoothing", "ema_decay", "channels_last", "threads", "deterministic"),
    *("device", "precision", "abandon_below", "test_curve"),
)


class TrainConfig(OptimizerSettings):
    """The ``train:`` (and ``finetune:``) section: optimizer settings, plus where and how it is steered."""

    # written flat in YAML and stored flat; errors name the flat field (``train.device``)
    flat_parts: ClassVar[tuple[str, ...]] = ("placement", "control")

    placement: Placement = Field(default_factory=Placement)
    control: SearchControl = Field(default_factory=SearchControl)

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, value: Any) -> Any:
        """``device``, ``precision``, ``threads`` and ``abandon_below`` go to their parts."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        for part, model in (("placement", Placement), ("control", SearchControl)):
            given = value.get(part, {})
            nested = dict(given.model_dump() if isinstance(given, BaseModel) else given or {})
            for name in model.model_fields:
                if name in value:
                    nested[name] = value.pop(name)
            value[part] = nested
        return value

    @model_serializer(mode="wrap")
    def _to_flat(self, handler) -> dict[str, Any]:
        nested = handler(self)
        for part in self.flat_parts:
            nested |= nested.pop(part)
        return {k: nested[k] for k in FLAT_ORDER}

    def key(self) -> dict[str, Any]:
        """The settings as they enter a task's key (see the module's docstring), in the stored order:
        some keys (a search's study name) hash this dict as it is ordered."""
        settings, placement = json.loads(self.model_dump_json()), self.placement.key()
        return {k: v for k, v in settings.items() if k in OptimizerSettings.model_fields or k in placement}

    def with_abandon_below(self, top1: float | None) -> TrainConfig:
        """The same settings, stopped early below ``top1`` (a search's trial)."""
        return self.model_copy(update={"control": SearchControl(abandon_below=top1)})
