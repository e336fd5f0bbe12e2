"""The method registry, method chains as config entries, and what a method may use while applied."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from torchslim.errors import ConfigError
from torchslim.registry import Registry


@dataclass(frozen=True)
class MethodEntry:
    config_cls: type[BaseModel]
    apply: Callable[[nn.Module, BaseModel, "MethodContext"], nn.Module]


METHODS: Registry = Registry("method")
DEPLOYING = ("quant.static", "quant.dynamic", "quant.qat", "quant.lowbit")  # output is an ONNX file, so they end a chain


def register_method(name: str, config_cls: type[BaseModel]):
    """Decorator: ``@register_method("prune.structured", StructuredConfig)`` on the handler."""

    def decorator(fn):
        METHODS.register(name, summary=(config_cls.__doc__ or "").strip().splitlines()[0])(MethodEntry(config_cls, fn))
        return fn

    return decorator


class MethodStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, Any] = {}

    def config(self) -> BaseModel:
        entry = METHODS.get(self.name).builder
        try:
            return entry.config_cls.model_validate(self.params)
        except ValidationError as exc:
            from torchslim.config import describe_error

            raise ConfigError(f"method '{self.name}': {describe_error(exc)}") from None

    @property
    def label(self) -> str:
        cfg = self.config()
        shown = {k: v for k, v in cfg.model_dump().items() if k in self.params}
        inner = ",".join(f"{k}={json.dumps(v) if not isinstance(v, (int, float)) else v}" for k, v in shown.items())
        return f"{self.name}({inner})"


class Chain(BaseModel):
    """An ordered list of method steps; in YAML a mapping ``{name: {params}}`` or a list of them."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[MethodStep, ...]

    @classmethod
    def parse(cls, raw: Any) -> "Chain":
        items = raw if isinstance(raw, list) else [raw]
        steps = []
        for item in items:
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigError(f"a method entry must be 'name' or {{name: {{params}}}}, got {item!r}")
            ((name, params),) = item.items()
            METHODS.get(name)
            step = MethodStep(name=name, params=params or {})
            step.config()  # validate now, not when the task runs
            steps.append(step)
        deployed = [s.name for s in steps[:-1] if s.name in DEPLOYING]
        if deployed:
            raise ConfigError(f"method '{deployed[0]}' produces a deployed ONNX Runtime artifact and must be the last "
                              "step of its chain (e.g. prune.structured then quant.static)")
        return cls(steps=tuple(steps))

    @property
    def label(self) -> str:
        return " + ".join(s.label for s in self.steps)


@dataclass
class MethodContext:
    """What a method may use: data for fine-tuning and importance, the input spec, the seed."""

    data: Any  # DataBundle
    spec: Any  # InputSpec
    finetune: Any  # TrainConfig used for fine-tuning
    seed: int
    workdir: Any  # Path
    notes: dict[str, Any] = field(default_factory=dict)
    original: Any = None  # the trained model the chain started from (teacher for distillation), if kept

    def example_input(self, batch: int = 1):
        import torch

        return torch.zeros(batch, *self.spec.shape)

    def calibration_batch(self, batch: int = 64):
        from torchslim.data import BatchLoader

        batch = min(batch, len(self.data.train))
        return next(iter(BatchLoader(self.data.train, self.data.info, batch, train=True, seed=self.seed)))

    def tune(self, model: nn.Module, epochs: int, tag: str, loss=None) -> nn.Module:
        """Fine-tune in place for ``epochs`` with the recipe's fine-tuning settings (0 = skip);
        ``loss(logits, labels, images)`` replaces cross-entropy (e.g. knowledge distillation)."""
        if epochs <= 0:
            return model
        from torchslim.train import fit

        cfg = self.finetune.model_copy(update={"epochs": epochs})
        result = fit(model, self.data, cfg, self.seed, checkpoint=self.workdir / f"finetune-{tag}.pt", loss=loss)
        (self.workdir / f"finetune-{tag}.pt").unlink(missing_ok=True)
        self.notes.setdefault("finetune", []).append({"tag": tag, "epochs": epochs, "top1": result.accuracy.top1})
        return model


    def record_step(self, model: nn.Module, step: int, stage: str) -> float:
        """One row of the per-step dynamics (seed 004): MACs, params, top-1/top-5 on the eval split, wall time."""
        import time

        from torchslim.data import BatchLoader
        from torchslim.measure.accuracy import evaluate
        from torchslim.measure.complexity import count_flops, count_params

        start = self.notes.setdefault("_t0", time.perf_counter())
        acc = evaluate(model, BatchLoader(self.data.eval, self.data.info, self.finetune.eval_batch_size))
        self.notes.setdefault("dynamics", []).append({
            "step": step, "stage": stage, "macs": count_flops(model, self.spec.shape),
            "params": count_params(model)[0], "top1": acc.top1, "top5": acc.top5,
            "seconds": time.perf_counter() - start,
        })
        return acc.top1


def apply_chain(model: nn.Module, chain: Chain, ctx: MethodContext) -> nn.Module:
    for i, step in enumerate(chain.steps):
        entry = METHODS.get(step.name).builder
        ctx.notes["step"] = i
        model = entry.apply(model, step.config(), ctx)
    return model
