"""Method chains as config entries: ``{name: {settings}}`` or a list of them, validated when parsed."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from torchslim.errors import ConfigError, describe_error
from torchslim.methods.context import MethodContext
from torchslim.methods.registry import MethodFacts, method_facts


class MethodStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, Any] = {}

    @property
    def facts(self) -> MethodFacts:
        return method_facts(self.name)

    def config(self) -> BaseModel:
        cls = self.facts.config_cls
        try:
            return cls.model_validate(self.params)
        except ValidationError as exc:
            raise ConfigError(f"method '{self.name}': {describe_error(exc, cls)}") from None

    def resolved(self) -> dict[str, Any]:
        """Name, behaviour version and every setting, defaults included: what a task hash covers."""
        return {"name": self.name, "version": self.facts.version, "params": json.loads(self.config().model_dump_json())}

    @property
    def label(self) -> str:
        cfg = self.config()
        shown = {k: v for k, v in cfg.model_dump(mode="json").items() if k in self.params}
        inner = ",".join(f"{k}={json.dumps(v) if not isinstance(v, (int, float)) else v}" for k, v in shown.items())
        return f"{self.name}({inner})"


class Chain(BaseModel):
    """An ordered list of method steps; in YAML a mapping ``{name: {params}}`` or a list of them."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[MethodStep, ...]

    @classmethod
    def parse(cls, raw: Any) -> "Chain":
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise ConfigError("an empty chain: give at least one method, e.g. [{prune.structured: {ratio: 0.5}}]")
        steps = []
        for item in items:
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ConfigError(f"a method entry must be 'name' or {{name: {{params}}}}, got {item!r}")
            ((name, params),) = item.items()
            step = MethodStep(name=name, params=params or {})
            step.config()  # looks the name up and validates now, not when the task runs
            steps.append(step)
        deployed = [s.name for s in steps[:-1] if s.facts.produces == "onnx"]
        if deployed:
            raise ConfigError(
                f"method '{deployed[0]}' produces a deployed ONNX Runtime artifact and must be the last "
                "step of its chain (e.g. prune.structured then quant.static)"
            )
        return cls(steps=tuple(steps))

    @property
    def label(self) -> str:
        return " + ".join(s.label for s in self.steps)


def apply_chain(model: nn.Module, chain: Chain, ctx: MethodContext) -> nn.Module:
    for i, step in enumerate(chain.steps):
        ctx.notes["step"] = i
        model = step.facts.apply(model, step.config(), ctx)
    return model
