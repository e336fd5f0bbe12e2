"""The ``train:`` section of a config."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from torchslim.device import DEVICE_PATTERN

# Left out of a task's key while "auto", like the thread count: where it ran is recorded in the row,
# and results stored before these settings existed keep their keys.
MACHINE_CHOICES = ("device", "precision")


class TrainConfig(BaseModel):
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
    threads: int | None = Field(None, gt=0, description="intra-op threads; fixed and recorded (default: all cores)")
    deterministic: bool = True
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N; auto = CUDA when torch sees a GPU")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto = bf16 autocast on CUDA, fp32 on the CPU; fp16 (CUDA only) scales the loss"
    )

    abandon_below: float | None = Field(
        None,
        description="stop with BelowBudget when the evaluated top-1 after the first epoch of a fit is below "
        "this (set by torchslim search on its trials; not part of a task's key: a trial that finishes "
        "computes exactly what the same task computes without it)",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"'{value}' is not a device; choose auto, cpu, cuda or cuda:N")
        return value

    def key(self) -> dict[str, Any]:
        """The settings as they enter a task's key: the machine choices only when stated."""
        out = json.loads(self.model_dump_json())
        out.pop("abandon_below")
        return {k: v for k, v in out.items() if not (k in MACHINE_CHOICES and v == "auto")}
