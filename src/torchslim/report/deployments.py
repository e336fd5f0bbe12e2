"""The report's deployment table: every artifact in every runtime and variant it was timed in, on
the CPU, against the original in the same runtime and against the original's fastest deployment.

The fastest deployment of the original in any runtime is the honest reference: a speedup over
PyTorch eager or ONNX Runtime FP32 alone may be what a runtime swap gives with no compression at
all. Every row of the original needs no calibration (it holds no INT8 file), so the reference is
the fastest of them. Each artifact's own fastest deployment is named ("deploy with").

The figures are each task's own medians (median over seeds), with the p10-p90 of its runs; they were
timed minutes apart, so they carry no paired interval. The side-by-side tables above give the 95 %
intervals for PyTorch and ONNX Runtime.
"""

from __future__ import annotations

import statistics

from torchslim.report.document import Section, Text
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.tables import Table
from torchslim.runtimes import RUNTIMES, runtime_facts

Key = tuple[str, str]  # (runtime, variant)


def label(runtime: str, variant: str) -> str:
    """``OpenVINO CPU-bf16``; a runtime no longer registered keeps its stored name."""
    name = runtime_facts(runtime).label if runtime in RUNTIMES else runtime
    return f"{name} {variant}" if variant else name


def cpu_times(e: Entry, batch: int) -> dict[Key, tuple[float, float, float]]:
    """(median, p10, p90) in ms per CPU (runtime, variant), each the median over seeds."""
    found: dict[Key, list[tuple[float, float, float]]] = {}
    for row in e.rows:
        for x in row.metrics.get("latency") or []:
            provider = x.get("provider", "")
            if x["batch_size"] != batch or "cuda" in provider.lower() or x.get("median_ms") is None:
                continue
            p10, p90 = x.get("p10_ms", x["median_ms"]), x.get("p90_ms", x["median_ms"])
            found.setdefault((x["runtime"], provider), []).append((x["median_ms"], p10, p90))
    return {k: tuple(statistics.median(v[i] for v in vals) for i in range(3)) for k, vals in found.items()}


def check_cell(e: Entry, key: Key) -> str:
    """What the deployment's check found (``measurement.bench.deployment_checks``), in words; a failed
    one is bold, so a disagreeing deployment is never just another latency."""
    if key[0] == "torch":
        return "the module itself"
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


def deployment_table(group: ModelGroup, batch: int) -> tuple[Table, list[str]] | None:
    base = group.baseline
    if base is None:
        return None
    base_times = cpu_times(base, batch)
    if not base_times:
        return None
    ref_key = min(base_times, key=lambda k: base_times[k][0])
    ref_ms = base_times[ref_key][0]
    rows, fastest = [], []
    for e in group.measured:
        times = cpu_times(e, batch)
        for key, (ms, p10, p90) in sorted(times.items(), key=lambda kv: kv[1][0]):
            same = base_times.get(key)
            rows.append(
                [
                    e.method,
                    label(*key),
                    f"{ms:.3f}",
                    f"{p10:.3f}–{p90:.3f}",
                    f"{same[0] / ms:.2f}×" if same else "the original was not timed here",
                    f"{ref_ms / ms:.2f}×",
                    check_cell(e, key),
                ]
            )
        sound = [k for k in times if "DISAGREES" not in check_cell(e, k)]  # never a deployment that disagrees
        if sound:
            best = min(sound, key=lambda k: times[k][0])
            fastest.append(f"- {e.method}: deploy with {label(*best)}, {times[best][0]:.3f} ms")
    if not rows:
        return None
    title = f"{group.model} on {group.dataset}, batch {batch} (reference: the original in {label(*ref_key)})"
    table = Table(
        [
            "Method",
            "Deployment",
            "Median ms",
            "p10–p90 ms",
            "× vs original, same deployment",
            "× vs reference",
            "Check",
        ],
        rows,
        "llrrrrl",
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
        "Every artifact in every runtime it was timed in (`measure.runtimes`), on the CPU. The reference is "
        "the original's fastest deployment in any runtime (it needs no calibration): a speedup over it is what "
        "the compression gained beyond a runtime swap. Medians are each task's own (median over seeds) with "
        "the p10–p90 of its runs; the paired 95 % intervals are in the side-by-side tables above. Check: an FP32 "
        "file in FP32 against the PyTorch network (parity, max |difference|); an INT8 file or BF16 by how often "
        "it picks the same class on 64 real images (at least 95 %, else DISAGREES)."
    )
    return [Section("Deployments", [intro, *blocks])]
