"""Trials as ordinary torchslim tasks, and how each is judged: top-1 against the baseline, and the objective.

A trial's task is the recipe's baseline with the trial's chain: stored, reused and reported like any
other. Its fine-tuning carries ``abandon_below`` (the budget less the margin), which is not part of
the task's key: a trial that finishes computed exactly what ``torchslim run`` computes for the same
chain. Latency is timed after the tasks, with nothing else of ours running, side by side with the
baseline in one process (``measurement.bench.paired_ratios``): the objective is the candidate's time
over the baseline's, which a machine that slows down for a while changes far less than either time.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from torchslim.artifacts import stored_artifact
from torchslim.config.search import SearchConfig
from torchslim.latency_comparison import load_artifact
from torchslim.measurement.bench import BenchConfig, paired_ratios
from torchslim.measurement.ratio import SpeedRatio
from torchslim.methods.chain import Chain
from torchslim.models import InputSpec, load_model
from torchslim.runtimes import runtime_facts
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task
from torchslim.train.config import TrainConfig

PRUNED, COMPLETE, FAILED = "pruned", "complete", "failed"
#: a trial's latency: timed until its interval is within this of its ratio, or this many seconds pass
TRIAL_REL_WIDTH, TRIAL_BUDGET_S = 0.05, 20.0


@dataclass
class Judged:
    """One trial as the search sees it (also what its Optuna trial keeps in ``user_attrs``)."""

    number: int
    chain: list[dict]  # recipe entries, as a recipe YAML writes them
    label: str
    task_hash: str
    state: str  # complete | pruned | failed
    note: str = ""
    top1: float | None = None
    drop: float | None = None  # baseline top-1 minus the trial's, in points
    value: float | None = None  # the objective: relative latency, bytes or MACs (lower is better)
    speedup: dict | None = None  # the baseline's time over the trial's (SpeedRatio.as_dict())
    latency_ms: float | None = None
    macs: int | None = None
    file_bytes: int | None = None

    def as_attrs(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "Judged":
        return cls(**{k: attrs[k] for k in cls.__dataclass_fields__ if k in attrs})

    def feasible(self, max_drop: float) -> bool:
        return self.state == COMPLETE and self.drop is not None and self.drop <= max_drop + 1e-9


def stopped_below(note: str | None, abandon_below: float) -> bool:
    """Whether a stored early stop still holds: its first-epoch top-1 is below this search's threshold.
    A search with a wider margin or budget runs the chain again (from its epoch checkpoint)."""
    hit = re.match(r"BelowBudget: top-1 ([0-9.]+)%", note or "")
    return hit is not None and float(hit.group(1)) < abandon_below


def trial_task(base: Task, chain: list[dict], finetune: TrainConfig, abandon_below: float | None) -> Task:
    """The baseline task with the trial's chain, its fine-tuning stopped early below ``abandon_below``."""
    tune = finetune.with_abandon_below(abandon_below)
    return replace(base, chain=Chain.parse(chain), finetune=tune)


def bench_config(search: SearchConfig, spec: InputSpec, threads: int | None) -> BenchConfig:
    return BenchConfig(
        batch_sizes=[search.batch or 1],
        runtimes=[search.runtime or "onnxruntime"],
        threads=threads,
        in_channels=spec.in_channels,
        input_size=spec.image_size,
        num_classes=spec.num_classes,
    )


def latency_key(search: SearchConfig) -> tuple:
    """The latency row a trial is judged by: the objective's runtime, its first (CPU) variant, its batch."""
    provider = runtime_facts(search.runtime).variants(("fp32",))[0].provider
    return (search.runtime, provider, search.batch)


def judge(
    number: int,
    chain: list[dict],
    task: Task,
    store: Store,
    base_row: ResultRow,
    search: SearchConfig,
    threads: int | None = None,
) -> Judged:
    """The trial's state, top-1 drop and objective value, from its stored row (or failure)."""
    j = Judged(number, chain, task.method_chain, task.config_hash, FAILED)
    row = store.get(task.key)
    if row is None:
        note = store.failure(task.key) or "no result was stored"
        return replace(j, state=PRUNED if note.startswith("BelowBudget") else FAILED, note=note)
    top1 = row.metrics["top1"]
    j = replace(
        j,
        state=COMPLETE,
        top1=top1,
        drop=base_row.metrics["top1"] - top1,
        macs=row.metrics.get("macs"),
        file_bytes=row.metrics.get("file_bytes"),
    )
    if search.objective == "macs":
        return replace(j, value=float(j.macs))
    if search.objective == "size":
        return replace(j, value=float(j.file_bytes))
    ratios, ms = time_against({"base": base_row, "trial": row}, [("base", "trial")], search, threads, TRIAL_BUDGET_S)
    speedup = ratios[("base", "trial")]
    return replace(
        j, value=1 / speedup.ratio, speedup=speedup.as_dict(), latency_ms=ms.get(("trial", latency_key(search)))
    )


def time_against(
    rows: dict[str, ResultRow],
    pairs: list[tuple[str, str]],
    search: SearchConfig,
    threads: int | None,
    budget_s: float,
) -> tuple[dict[tuple[str, str], SpeedRatio], dict]:
    """The stored artifacts of ``rows`` timed side by side as they ship: each pair's ratio (a's time
    over b's) at the objective's runtime and batch, and each model's median ms."""
    base = next(r for r in rows.values() if r.method_chain == "baseline")
    _, spec = load_model(stored_artifact(base).model_path)
    models = {label: load_artifact(r) for label, r in rows.items()}
    ratios, ms = paired_ratios(
        models, pairs, bench_config(search, spec, threads), rel_width=TRIAL_REL_WIDTH, budget_s=budget_s
    )
    key = latency_key(search)
    return {(a, b): r for (a, b, k), r in ratios.items() if k == key}, ms


def cost_cell(t: Judged, search: SearchConfig) -> str:
    """The trial's cost as printed: MACs, artifact size, or latency with its speedup over the baseline."""
    if t.state != COMPLETE:
        return "not measured (" + ("stopped early" if t.state == PRUNED else "failed") + ")"
    if search.objective == "macs":
        return f"{t.macs / 1e6:.3f} M"
    if search.objective == "size":
        return f"{t.file_bytes / 1e6:.3f} MB"
    s = t.speedup or {}
    ms = f"{t.latency_ms:.3f} ms, " if t.latency_ms is not None else ""
    return f"{ms}{s['ratio']:.2f}x ({s['low']:.2f}–{s['high']:.2f})"
