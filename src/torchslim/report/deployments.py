"""The report's deployment table: every artifact in every runtime and variant it was timed in, on
the CPU, against the original in the same runtime and against the original's fastest deployment.

The fastest deployment of the original in any runtime is the honest reference: a speedup over
PyTorch eager or ONNX Runtime FP32 alone may be what a runtime swap gives with no compression at
all. Every row of the original needs no calibration (it holds no INT8 file), so the reference is
the fastest of them. Each artifact's own fastest deployment is named ("deploy with"), and the
recommendations use it.

Where the run's side-by-side comparison timed every deployment in one process (``measure.compare``),
the latencies carry the 95 % interval of their median over rounds, and the speedups the paired 95 %
interval of the per-round ratios. Without it (compare off), the figures are each task's own medians
(median over seeds) with their p10-p90: those were timed minutes apart and carry no paired interval.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from torchslim.measurement.ratio import median_interval, min_rounds_for, ratio_from_rounds
from torchslim.report.document import Section, Text
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.tables import Table
from torchslim.runtimes import RUNTIMES, runtime_facts

Key = tuple[str, str]  # (runtime, variant)


@dataclass(frozen=True)
class Timed:
    """One deployment's latency: the median in ms, its interval, and the per-round medians that pair
    it with the other deployments of the same comparison (empty for per-task figures)."""

    ms: float
    low: float
    high: float
    rounds: tuple[float, ...] = ()

    @property
    def paired(self) -> bool:
        return len(self.rounds) >= min_rounds_for(0.95)


def label(runtime: str, variant: str) -> str:
    """``OpenVINO CPU-bf16``; a runtime no longer registered keeps its stored name."""
    name = runtime_facts(runtime).label if runtime in RUNTIMES else runtime
    return f"{name} {variant}" if variant else name


def cpu_times(e: Entry, batch: int) -> dict[Key, Timed]:
    """Every CPU (runtime, variant) ``e`` was timed in at ``batch``: from the side-by-side comparison
    when there is one, else each task's (median, p10, p90), each the median over seeds."""
    compared = {key: v for (key, b), v in e.deployed.items() if b == batch and "cuda" not in key[1].lower()}
    if compared:
        out = {}
        for key, (ms, rounds) in compared.items():
            low, high = median_interval(list(rounds)) if len(rounds) >= min_rounds_for(0.95) else (ms, ms)
            out[key] = Timed(ms, low, high, tuple(rounds))
        return out
    found: dict[Key, list[tuple[float, float, float]]] = {}
    for row in e.rows:
        for x in row.metrics.get("latency") or []:
            provider = x.get("provider", "")
            if x["batch_size"] != batch or "cuda" in provider.lower() or x.get("median_ms") is None:
                continue
            p10, p90 = x.get("p10_ms", x["median_ms"]), x.get("p90_ms", x["median_ms"])
            found.setdefault((x["runtime"], provider), []).append((x["median_ms"], p10, p90))
    return {k: Timed(*(statistics.median(v[i] for v in vals) for i in range(3))) for k, vals in found.items()}


def paired_ratio(ref: Timed, own: Timed):
    """``own``'s speedup over ``ref`` with its interval, from their paired rounds; None unless both were
    timed side by side."""
    if ref.paired and own.paired and len(ref.rounds) == len(own.rounds):
        return ratio_from_rounds(list(ref.rounds), list(own.rounds))
    return None


def speedup_cell(ref: Timed | None, own: Timed) -> str:
    """``3.24× (3.05–3.41)`` when the two were timed side by side, else the ratio of medians."""
    if ref is None:
        return "the original was not timed here"
    paired = paired_ratio(ref, own)
    return paired.text() if paired else f"{ref.ms / own.ms:.2f}×"


def deployment_accuracy(e: Entry, key: Key) -> list[dict]:
    """The task's top-1 of this deployment on the evaluation split (``deployment_top1``), per seed."""
    return [d for r in e.rows for d in r.metrics.get("deployment_top1") or [] if (d["runtime"], d["provider"]) == key]


def top1_cell(e: Entry, key: Key) -> str:
    if key[0] == "torch":
        return f"{e.top1.mean:.2f}"
    found = deployment_accuracy(e, key)
    if not found:
        return "not measured"
    return f"{statistics.fmean(d['top1'] for d in found):.2f}"


def check_cell(e: Entry, key: Key) -> str:
    """What the deployment's check found, in words; a failed one is bold, so a disagreeing deployment
    is never just another latency. BF16 and INT8 deployments: agreement with the float network on the
    whole evaluation split (``measurement.deployed_accuracy``); FP32 files: parity with PyTorch on real
    images (``measurement.bench.deployment_checks``)."""
    if key[0] == "torch":
        return "the module itself"
    on_split = [d for d in deployment_accuracy(e, key) if "agreement" in d]
    if on_split and not all(d["float_file"] and d["precision"] in ("fp32", "file") for d in on_split):
        worst = min(on_split, key=lambda d: (d["ok"], d["agreement"]))
        text = f"top-1 agrees {100 * worst['agreement']:.1f} % with the float network on {worst['images']:,} images"
        return text if worst["ok"] else f"**{text}: DISAGREES**"
    checks = [
        c for r in e.rows for c in r.metrics.get("deployment_checks") or [] if (c["runtime"], c["provider"]) == key
    ]
    if not checks:
        others = [c for r in e.rows for c in r.metrics.get("deployment_checks") or []]
        if key == ("onnxruntime", "CPUExecutionProvider") and any(
            c.get("against", "").startswith("ONNX") for c in others
        ):
            return "what the other runtimes are checked against"
        if key == ("onnxruntime", "CPUExecutionProvider") and any(r.metrics.get("parity") for r in e.rows):
            parity = next(r.metrics["parity"] for r in e.rows if r.metrics.get("parity"))
            return (
                f"parity {parity['max_abs_diff']:.1e}"
                if parity.get("ok")
                else f"**parity {parity['max_abs_diff']:.1e} FAILED**"
            )
        return "not checked"
    worst = min(checks, key=lambda c: (c["ok"], c["agreement"]))
    if worst["check"] == "parity":
        text = f"parity {worst['max_abs_diff']:.1e}"
    else:
        text = f"top-1 agrees {100 * worst['agreement']:.0f} % with {worst.get('against', 'the float network')}"
    return text if worst["ok"] else f"**{text}: DISAGREES**"


def reference(group: ModelGroup, batch: int) -> tuple[Key, Timed] | None:
    """The original's fastest deployment at ``batch``: the honest reference."""
    base = group.baseline
    times = cpu_times(base, batch) if base is not None else {}
    if not times:
        return None
    key = min(times, key=lambda k: times[k].ms)
    return key, times[key]


def fastest_deployment(e: Entry, batch: int) -> tuple[Key, Timed] | None:
    """``e``'s fastest deployment whose check did not fail (a disagreeing one is never named)."""
    times = cpu_times(e, batch)
    sound = [k for k in times if "DISAGREES" not in check_cell(e, k) and "FAILED" not in check_cell(e, k)]
    if not sound:
        return None
    key = min(sound, key=lambda k: times[k].ms)
    return key, times[key]


def deploy_with(group: ModelGroup, e: Entry, batch: int) -> str | None:
    """``OpenVINO CPU-fp32, 0.120 ms, 3.10× (2.9–3.3) vs the original's fastest``"""
    best, ref = fastest_deployment(e, batch), reference(group, batch)
    if best is None or ref is None:
        return None
    key, own = best
    return f"{label(*key)}, {own.ms:.3f} ms, {speedup_cell(ref[1], own)} vs the original's fastest ({label(*ref[0])})"


def deployment_table(group: ModelGroup, batch: int) -> tuple[Table, list[str]] | None:
    ref = reference(group, batch)
    if ref is None:
        return None
    ref_key, ref_time = ref
    base_times = cpu_times(group.baseline, batch)
    rows, fastest = [], []
    paired = False
    for e in group.measured:
        times = cpu_times(e, batch)
        for key, t in sorted(times.items(), key=lambda kv: kv[1].ms):
            paired |= t.paired
            rows.append(
                [
                    e.label,
                    label(*key),
                    top1_cell(e, key),
                    f"{t.ms:.3f}",
                    f"{t.low:.3f}–{t.high:.3f}",
                    speedup_cell(base_times.get(key), t),
                    speedup_cell(ref_time, t),
                    check_cell(e, key),
                ]
            )
        text = deploy_with(group, e, batch)
        if text:
            fastest.append(f"- {e.label}: deploy with {text}")
    if not rows:
        return None
    title = f"{group.model} on {group.dataset}, batch {batch} (reference: the original in {label(*ref_key)})"
    table = Table(
        [
            "Method",
            "Deployment",
            "Top-1 % here",
            "Median ms",
            "95 % interval ms" if paired else "p10–p90 ms",
            "× vs original, same deployment",
            "× vs reference",
            "Check",
        ],
        rows,
        "llrrrrrl",
        title=title,
    )
    return table, fastest


def deployment_sections(groups: list[ModelGroup]) -> list[Section]:
    """One section with a table per model and batch size, when any artifact was timed on the CPU."""
    blocks = []
    for group in groups:
        for batch in group.batch_sizes:
            made = deployment_table(group, batch)
            if made is not None:
                table, fastest = made
                blocks += [table, Text("\n".join(fastest))]
    if not blocks:
        return []
    intro = Text(
        "Every artifact in every runtime and precision it was timed in (`measure.runtimes`, `measure.precisions`), "
        "on the CPU. The reference is the original's fastest deployment in any runtime (it needs no calibration): "
        "a speedup over it is what the compression gained beyond a runtime swap. Where the run's side-by-side "
        "comparison timed them together, medians carry the 95 % interval of the median over rounds and speedups "
        "the paired 95 % interval; otherwise they are each task's own (median over seeds, p10–p90). Top-1 is "
        "measured in that runtime and precision on the evaluation split. Check: BF16 and INT8 deployments by how "
        "often they pick the float network's class (at least 95 %, else DISAGREES); an FP32 file in FP32 by "
        "parity with the PyTorch network (max |difference| on real images)."
    )
    return [Section("Deployments", [intro, *blocks])]
