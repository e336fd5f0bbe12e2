"""What a report is made of: one entry per (model, dataset, method chain), its seeds pooled.

Entries are built from the results store alone (never from artifact files), so a report can be
regenerated at any time, also after the artifacts were deleted. A task the config asks for but the
store does not hold is kept as *missing*, with the reason, so no table ever shows a placeholder.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from torchslim.artifacts import StoredArtifact, stored_artifact
from torchslim.measurement.ratio import SpeedRatio, min_rounds_for, ratio_from_rounds
from torchslim.methods import known_method
from torchslim.report.stats import SeedStats, ranges_overlap
from torchslim.store import ResultRow

BASELINE = "baseline"

CPU_PROVIDERS = ("eager-cpu", "CPUExecutionProvider", "")  # "" : rows stored before providers were recorded


def describe_step(name: str, params: dict) -> tuple[str, str]:
    """(method, compression) for one chain step, e.g. ("Pruning (Struct.)", "50%"), from the method's
    registered facts; a method that is no longer installed shows its name and settings."""
    facts = known_method(name)
    settings = ", ".join(f"{k}={v}" for k, v in params.items()) or "—"
    if facts is None:
        return name, settings
    try:
        return facts.label, facts.amount(params)
    except (KeyError, TypeError, ValueError):  # settings stored by an older version of the method
        return facts.label, settings


@dataclass
class Entry:
    model: str
    dataset: str
    chain: str
    rows: list[ResultRow] = field(default_factory=list)
    missing: dict[int, str] = field(default_factory=dict)  # seed -> why it is not in the store
    compared: dict[tuple[str, int], float] = field(default_factory=dict)  # side-by-side medians (ms), if timed
    compared_range: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)  # their p10, p90
    compared_rounds: dict[tuple[str, int], tuple[float, ...]] = field(default_factory=dict)  # per-round medians
    #: every (runtime, variant) of the side-by-side comparison: (median, per-round medians) in ms
    deployed: dict[tuple[tuple[str, str], int], tuple[float, tuple[float, ...]]] = field(default_factory=dict)
    variant: str = ""  # the settings that tell it apart from entries that would otherwise read the same

    @property
    def is_baseline(self) -> bool:
        return self.chain == BASELINE

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.rows[0].config.get("chain", []) if self.rows else []

    @property
    def method(self) -> str:
        if self.is_baseline:
            return "Original"
        name = " → ".join(describe_step(s["name"], s.get("params", {}))[0] for s in self.steps) or self.chain
        return f"{name} · {self.variant}" if self.variant else name

    @property
    def compression(self) -> str:
        if self.is_baseline:
            return "N/A"
        return " → ".join(describe_step(s["name"], s.get("params", {}))[1] for s in self.steps) or "?"

    @property
    def label(self) -> str:
        return "Original" if self.is_baseline else f"{self.method} {self.compression}"

    @property
    def has_data(self) -> bool:
        return bool(self.rows)

    @property
    def top1(self) -> SeedStats:
        return SeedStats(tuple(r.metrics["top1"] for r in sorted(self.rows, key=lambda r: r.seed)))

    @property
    def has_test(self) -> bool:
        """Every seed was measured on a separate test split (``dataset.test_root``)."""
        return bool(self.rows) and all(r.metrics.get("test_top1") is not None for r in self.rows)

    @property
    def final_split(self) -> str:
        """The split of the final figure: the separate test split where there is one, else the
        dataset's evaluation split (mnist5k's test, an image folder's val)."""
        return "test" if self.has_test else str(self.first("eval_split") or "eval")

    @property
    def final_top1(self) -> SeedStats:
        """Top-1 on :attr:`final_split`, one value per seed."""
        key = "test_top1" if self.has_test else "top1"
        return SeedStats(tuple(r.metrics[key] for r in sorted(self.rows, key=lambda r: r.seed)))

    def mean(self, key: str) -> float | None:
        values = [r.metrics[key] for r in self.rows if r.metrics.get(key) is not None]
        return statistics.fmean(values) if values else None

    def first(self, key: str) -> Any:
        return self.rows[0].metrics.get(key) if self.rows else None

    @property
    def artifact(self) -> StoredArtifact | None:
        """What the first seed's task produced (every seed produces the same kind)."""
        return stored_artifact(self.rows[0]) if self.rows else None

    @property
    def size_bytes(self) -> float | None:
        """The deployable file: the QCDQ ONNX for Brevitas models (their .pt keeps float state)."""
        if self.artifact is not None and self.artifact.kind == "brevitas" and self.first("onnx_bytes"):
            return self.mean("onnx_bytes")
        return self.mean("file_bytes")

    def latency_ms(self, runtime: str, batch: int) -> float | None:
        """The side-by-side comparison's median if there is one, else the median over seeds of each
        task's own median, on the CPU (GPU rows are listed on their own); None when not measured."""
        if (runtime, batch) in self.compared:
            return self.compared[(runtime, batch)]
        values = [
            x["median_ms"]
            for r in self.rows
            for x in r.metrics.get("latency", [])
            if x["runtime"] == runtime and x["batch_size"] == batch and x.get("provider", "") in CPU_PROVIDERS
        ]
        return statistics.median(values) if values else None

    @property
    def batch_sizes(self) -> list[int]:
        return sorted(
            {x["batch_size"] for r in self.rows for x in r.metrics.get("latency", [])} | {b for _, b in self.compared}
        )

    @property
    def prune_fraction(self) -> float | None:
        """The pruning amount a user asked for (sparsity or channel ratio), for ratio-vs-speed plots:
        the first pruning step's, as its method's facts define it."""
        for s in self.steps:
            facts = known_method(s["name"])
            if facts is not None and facts.kind == "prune":
                return facts.prunes(s.get("params", {}), self.first("method_notes") or {}) if facts.prunes else None
        return None

    @property
    def is_pruning(self) -> bool:
        return any((f := known_method(s["name"])) is not None and f.kind == "prune" for s in self.steps)

    @property
    def dynamics(self) -> list[dict[str, Any]]:
        """Per-step records of an iterative method (first seed)."""
        return (self.first("method_notes") or {}).get("dynamics", [])


@dataclass
class ModelGroup:
    """Every entry of one model on one dataset; the baseline is the reference for ratios."""

    model: str
    dataset: str
    entries: list[Entry]

    @property
    def baseline(self) -> Entry | None:
        return next((e for e in self.entries if e.is_baseline and e.has_data), None)

    @property
    def measured(self) -> list[Entry]:
        return [e for e in self.entries if e.has_data]

    def speedup(self, e: Entry, runtime: str, batch: int) -> float | None:
        base = self.baseline
        ref = base.latency_ms(runtime, batch) if base else None
        ms = e.latency_ms(runtime, batch)
        return ref / ms if ref and ms else None

    def speedup_interval(self, e: Entry, runtime: str, batch: int) -> SpeedRatio | None:
        """The original's time over ``e``'s, with its 95 % interval, from the rounds they were timed
        side by side in (None without such rounds: per-task latencies are minutes apart)."""
        base = self.baseline
        own = e.compared_rounds.get((runtime, batch))
        ref = base.compared_rounds.get((runtime, batch)) if base else None
        if not own or not ref or len(own) != len(ref) or len(own) < min_rounds_for(0.95):
            return None
        return ratio_from_rounds(list(ref), list(own))

    def within_noise(self, e: Entry, runtime: str, batch: int) -> bool:
        """True when the speedup's interval includes 1.0; for comparisons stored without rounds,
        when the side-by-side p10-p90 ranges of ``e`` and the original overlap."""
        interval = self.speedup_interval(e, runtime, batch)
        if interval is not None:
            return interval.within_noise
        base = self.baseline
        own, ref = e.compared_range.get((runtime, batch)), base.compared_range.get((runtime, batch)) if base else None
        return bool(own and ref and ranges_overlap(own, ref))

    def size_ratio(self, e: Entry) -> float | None:
        base = self.baseline
        return base.size_bytes / e.size_bytes if base and base.size_bytes and e.size_bytes else None

    def macs_ratio(self, e: Entry) -> float | None:
        base = self.baseline
        return base.mean("macs") / e.mean("macs") if base and base.mean("macs") and e.mean("macs") else None

    def top1_drop(self, e: Entry) -> float | None:
        """Baseline mean minus this entry's mean: positive = accuracy lost."""
        base = self.baseline
        return base.top1.mean - e.top1.mean if base and e.has_data else None

    @property
    def batch_sizes(self) -> list[int]:
        return sorted({b for e in self.measured for b in e.batch_sizes})


def group_entries(
    rows: list[ResultRow],
    expected: list[tuple[str, str, str, int]] | None = None,
    reasons: dict[tuple[str, str, str, int], str] | None = None,
) -> list[ModelGroup]:
    """Pool rows into entries, in the order the config lists them; add expected-but-absent seeds."""
    entries: dict[tuple[str, str, str], Entry] = {}
    for model, dataset, chain, seed in expected or []:
        entries.setdefault((model, dataset, chain), Entry(model, dataset, chain))
    for r in rows:
        entries.setdefault((r.model, r.dataset, r.method_chain), Entry(r.model, r.dataset, r.method_chain)).rows.append(
            r
        )
    present = {(r.model, r.dataset, r.method_chain, r.seed) for r in rows}
    for key in expected or []:
        if key not in present:
            reason = (reasons or {}).get(key, "not in the store: not run yet, or the run stopped before it")
            entries[key[:3]].missing[key[3]] = reason
    groups: dict[tuple[str, str], ModelGroup] = {}
    for (model, dataset, _), e in entries.items():
        groups.setdefault((model, dataset), ModelGroup(model, dataset, [])).entries.append(e)
    for g in groups.values():
        name_variants(g.entries)
    return list(groups.values())


def name_variants(entries: list[Entry]) -> None:
    """Entries whose label would read the same (three static-INT8 calibrations, say) get the
    settings in which they differ, e.g. "Quant. (Static) · calibration=entropy"."""
    by_label: dict[str, list[Entry]] = {}
    for e in entries:
        by_label.setdefault(e.label, []).append(e)
    for same in by_label.values():
        if len(same) < 2 or any(not e.steps for e in same):
            continue
        flat = [{f"{i}.{k}": v for i, st in enumerate(e.steps) for k, v in st.get("params", {}).items()} for e in same]
        keys = sorted({k for f in flat for k in f if len({json.dumps(g.get(k), sort_keys=True) for g in flat}) > 1})
        multi = len(same[0].steps) > 1
        for e, f in zip(same, flat):
            e.variant = ", ".join(f"{k if multi else k.split('.', 1)[1]}={f.get(k)}" for k in keys)
