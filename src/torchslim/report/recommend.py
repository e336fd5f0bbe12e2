"""Deployment recommendations and an efficiency ranking, derived from measured numbers by stated rules.

Each recommendation carries its rule, so a reader can check it against the tables; when nothing
satisfies a rule, it says so instead of recommending anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torchslim.report.deployments import deploy_with, fastest_deployment
from torchslim.report.entries import Entry, ModelGroup


@dataclass(frozen=True)
class Recommendation:
    use_case: str
    rule: str
    choice: str | None  # entry label, or None when no entry satisfies the rule
    evidence: str

    def line(self) -> str:
        pick = f"**{self.choice}**: {self.evidence}" if self.choice else self.evidence
        return f"- {self.use_case}: {pick} (rule: {self.rule})"


def _within(group: ModelGroup, tol: float) -> list[Entry]:
    return [e for e in group.measured if (d := group.top1_drop(e)) is not None and d <= tol]


def _evidence(group: ModelGroup, e: Entry, what: str) -> str:
    delta = e.top1.mean - group.baseline.top1.mean
    return f"{what}; top-1 {e.top1.mean:.2f} % ({delta:+.2f} vs original)"


def _pick(group: ModelGroup, pool: list[Entry], key: Callable[[Entry], float | None]) -> Entry | None:
    """The entry with the lowest key; ties go to the more accurate one."""
    scored = [(key(e), -e.top1.mean, i) for i, e in enumerate(pool) if key(e) is not None]
    return pool[min(scored)[2]] if scored else None


def recommend(group: ModelGroup, tolerance: float = 1.0) -> list[Recommendation]:
    if group.baseline is None:
        return [
            Recommendation(
                "All",
                "needs the original model's result",
                None,
                "no recommendation: the original model is not in the store",
            )
        ]
    tol = f"within {tolerance:g} point{'s' if tolerance != 1 else ''} of the original's top-1"
    pool = _within(group, tolerance)
    batch = min(group.batch_sizes, default=1)
    recs = []

    def add(use_case: str, rule: str, key: Callable[[Entry], float | None], fmt: Callable[[Entry], str]) -> None:
        e = _pick(group, pool, key)
        recs.append(
            Recommendation(
                use_case,
                rule,
                e.label if e else None,
                _evidence(group, e, fmt(e)) if e else f"nothing measured satisfies it ({tol})",
            )
        )

    add(
        "Mobile / edge (storage)",
        f"smallest file {tol}",
        lambda e: e.size_bytes,
        lambda e: f"{e.size_bytes / 1e6:.2f} MB, {group.size_ratio(e):.2f}x smaller",
    )
    add(
        f"Latency-critical (fastest deployment, batch {batch})",
        f"lowest median latency at batch {batch} in its fastest checked deployment (any runtime and precision) {tol}",
        lambda e: t[1].ms if (t := fastest_deployment(e, batch)) else None,
        lambda e: f"deploy with {deploy_with(group, e, batch)}",
    )
    add(
        f"PyTorch serving (eager, batch {batch})",
        f"lowest PyTorch eager median latency at batch {batch} {tol}",
        lambda e: e.latency_ms("torch", batch),
        lambda e: f"{e.latency_ms('torch', batch):.3f} ms, {group.speedup(e, 'torch', batch):.2f}x",
    )
    add(
        "Compute budget",
        f"fewest MACs {tol}",
        lambda e: e.mean("macs"),
        lambda e: f"{e.mean('macs') / 1e6:.2f} M MACs, {group.macs_ratio(e):.2f}x fewer",
    )
    compressed = [e for e in group.measured if not e.is_baseline]
    best = max(compressed, key=lambda e: e.top1.mean, default=None)
    recs.append(
        Recommendation(
            "Accuracy first",
            "most accurate compressed model, whatever its gains",
            best.label if best else None,
            _evidence(group, best, "highest top-1 of the compressed models")
            if best
            else "no compressed model in the store",
        )
    )
    return recs


@dataclass(frozen=True)
class Ranked:
    entry: Entry
    score: float | None
    size_ratio: float | None
    speedup: float | None
    within_budget: bool


def efficiency_ranking(group: ModelGroup, tolerance: float = 1.0) -> tuple[str, list[Ranked]]:
    """Score = size reduction x ONNX Runtime speedup at the smallest batch; only models within budget rank."""
    batch = min(group.batch_sizes, default=1)
    rule = (
        f"score = (original file size / file size) x (original / this ONNX Runtime median latency at batch {batch}); "
        f"ranked among models within {tolerance:g} point(s) of the original's top-1, the rest listed after, unranked"
    )
    out = []
    for e in group.measured:
        size, speed = group.size_ratio(e), group.speedup(e, "onnxruntime", batch)
        score = size * speed if size is not None and speed is not None else None
        drop = group.top1_drop(e)
        out.append(Ranked(e, score, size, speed, drop is not None and drop <= tolerance))
    out.sort(key=lambda r: (not r.within_budget, r.score is None, -(r.score or 0.0)))
    return rule, out
