"""The ``search:`` section: what ``torchslim search`` looks for, within what accuracy budget, over which chains.

A chain family is its depth step, its channel or weight pruning step and its quantization step joined
by ``+`` (``depth+structured+static``, ``unstructured``, ``qat``); the default space holds every family
the methods allow.
"""

from __future__ import annotations

import re
from itertools import product
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from torchslim.runtimes import RUNTIMES, runtime_facts


def known_objective(value: str) -> str:
    """``size``, ``macs`` or ``latency:RUNTIME:bN`` for any registered runtime (``latency:openvino:b8``)."""
    if value in ("size", "macs"):
        return value
    match = re.fullmatch(r"latency:([\w.-]+):b([1-9]\d*)", value)
    if not match:
        raise ValueError(f"objective '{value}' is not size, macs or latency:RUNTIME:bN (e.g. latency:onnxruntime:b1)")
    if match.group(1) not in RUNTIMES:
        raise ValueError(f"objective '{value}': {RUNTIMES.unknown_message(match.group(1))}")
    return value


Objective = Annotated[str, AfterValidator(known_objective)]
DEPTH = "depth"
PRUNING = ("structured", "unstructured")
QUANTIZATION = ("static", "qat")
#: every chain the methods allow: blocks removed, channels or weights pruned, INT8, in that order
FAMILIES = tuple(
    "+".join(p for p in steps if p) for steps in product(("", DEPTH), ("", *PRUNING), ("", *QUANTIZATION)) if any(steps)
)
Importance = Literal["l1", "taylor", "idap", "random"]


#: fractions are searched as whole percents on this grid (search/space.py draws them)
GRID_PCT = 5


class Interval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    low: float = Field(..., gt=0, lt=1)
    high: float = Field(..., gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Interval":
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if round(100 * self.high / GRID_PCT) * GRID_PCT >= 100:
            raise ValueError(
                f"high {self.high} rounds to 100 % on the search's {GRID_PCT} % grid, which removes everything; "
                f"give at most {(100 - GRID_PCT / 2) / 100 - 0.005:.3f}"
            )
        return self


class StructuredSpace(BaseModel):
    """Channel pruning: by a ratio of channels removed, or by a MACs target kept."""

    model_config = ConfigDict(extra="forbid")

    amount: Literal["macs_target", "ratio"] = Field(
        "macs_target", description="what is sampled: the fraction of MACs kept, or of channels removed"
    )
    range: Interval = Field(default_factory=lambda: Interval(low=0.2, high=0.8))
    importance: list[Importance] = Field(
        default_factory=lambda: ["l1", "taylor", "idap", "random"],
        min_length=1,
        description="idap = prune.idap (IDAP++, MACs target only), the others prune.structured's criteria",
    )
    round_to: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [1, 8], min_length=1, description="channel multiples to try (1 = exact widths)"
    )

    @model_validator(mode="after")
    def _idap_needs_macs(self) -> "StructuredSpace":
        if "idap" in self.importance and self.amount != "macs_target":
            raise ValueError("importance 'idap' (IDAP++) takes a MACs target: set amount: macs_target or drop idap")
        return self


class BlockRange(BaseModel):
    """Depth pruning: how many blocks ``prune.depth`` removes (whole numbers, both ends included)."""

    model_config = ConfigDict(extra="forbid")

    low: int = Field(1, ge=1)
    high: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "BlockRange":
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chains: list[str] = Field(
        default_factory=lambda: list(FAMILIES), min_length=1, description=f"chain families: {', '.join(FAMILIES)}"
    )
    structured: StructuredSpace = Field(default_factory=StructuredSpace)
    depth: BlockRange = Field(default_factory=BlockRange, description="blocks removed by prune.depth")
    sparsity: Interval = Field(default_factory=lambda: Interval(low=0.3, high=0.9), description="unstructured")
    finetune: list[Literal["plain", "kd"]] = Field(
        default_factory=lambda: ["plain", "kd"], min_length=1, description="how a pruning step is fine-tuned"
    )
    finetune_epochs: int = Field(2, ge=1, description="fine-tuning (or KD) epochs after a pruning step")
    qat_epochs: int = Field(2, ge=1)

    @property
    def has_depth(self) -> bool:
        """Whether any chain family removes blocks (``prune.depth``)."""
        return any(DEPTH in f.split("+") for f in self.chains)

    @field_validator("chains")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for family in value:
            if family not in FAMILIES:
                raise ValueError(f"unknown chain family '{family}'; choose from: {', '.join(FAMILIES)}")
        if len(set(value)) != len(value):
            raise ValueError("a chain family is listed twice")
        return value


class SearchConfig(BaseModel):
    """``torchslim search``: the best ``objective`` within ``max_drop`` points of the baseline's top-1."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective = "latency:onnxruntime:b1"
    max_drop: float = Field(1.0, ge=0, description="top-1 points the pick may lose against the baseline")
    trials: int = Field(20, ge=1, le=1000)
    margin: float = Field(
        2.0,
        ge=0,
        description="a trial is stopped after its first fine-tuning epoch when it is more than max_drop + "
        "margin points below the baseline",
    )
    seed: int = Field(0, description="the sampler's seed")
    space: SearchSpace = Field(default_factory=SearchSpace)
    confirm: bool = Field(True, description="rerun the pick on every other seed of the recipe and report the mean")

    @property
    def runtime(self) -> str | None:
        return self.objective.split(":")[1] if self.objective.startswith("latency:") else None

    @property
    def batch(self) -> int | None:
        return int(self.objective.rsplit(":b", 1)[1]) if self.objective.startswith("latency:") else None

    @model_validator(mode="after")
    def _some_chain_judged(self) -> "SearchConfig":
        if not self.families():
            raise ValueError(
                f"objective {self.objective} judges none of the chains {', '.join(self.space.chains)}: an INT8 chain "
                "ships an ONNX Runtime file, which has no PyTorch latency; add a float chain or time onnxruntime"
            )
        return self

    def families(self) -> list[str]:
        """The space's chain families this objective can judge: an INT8 chain ships an ONNX Runtime
        file, which has no PyTorch latency."""
        if self.runtime is not None and runtime_facts(self.runtime).loads == "module":
            return [f for f in self.space.chains if not any(q in f.split("+") for q in QUANTIZATION)]
        return list(self.space.chains)
