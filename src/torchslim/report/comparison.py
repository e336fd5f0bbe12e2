"""Seed 004's comparison table: architecture, dataset, method, inference time, top-1, and a verdict.

One row per method of a model, from the store alone: its settings, the fine-tuning epochs it spent
(read from what its steps recorded, so a method cannot spend more than the table says), MACs, size,
the latency of its fastest deployment with a 95 % interval, and top-1 on the final split (the
separate test split where there is one) as mean ± std over seeds. Against IDAP++, each competitor
gets a verdict on accuracy and on speed; where the two ranges overlap (mean ± std over seeds; the
latency intervals) the cell says "within noise", and with one seed it says that no spread exists.
"""

from __future__ import annotations

from torchslim.report.deployments import Timed, fastest_deployment, label
from torchslim.report.document import Section, Text
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.stats import SeedStats, ranges_overlap
from torchslim.report.tables import Table, human_count

REFERENCE = "prune.idap"  # the method seed 004 is about; the verdict column compares every other row with it


def finetune_epochs(e: Entry) -> int:
    """Epochs of training the chain's steps recorded (the first seed's notes)."""
    notes = e.first("method_notes") or {}
    return int(sum(f.get("epochs", 0) for f in notes.get("finetune", [])))


def size_cell(e: Entry) -> str:
    notes = e.first("method_notes") or {}
    packed = notes.get("packed_weight_bytes")
    file = f"{e.size_bytes / 1e6:.2f} MB" if e.size_bytes else "not measured"
    mixed = packed and packed != notes.get("packed_weight_bytes_int8")  # below 8 bits: the file keeps 8-bit containers
    return f"{file} (packed {packed / 1e6:.2f} MB)" if mixed else file


def spread(stats: SeedStats) -> tuple[float, float] | None:
    return None if stats.std is None else (stats.mean - stats.std, stats.mean + stats.std)


def accuracy_verdict(ref: SeedStats, own: SeedStats) -> str:
    """IDAP++ minus this method, in top-1 points, and whether the seed spreads overlap."""
    diff = ref.mean - own.mean
    text = f"{diff:+.2f} pts"
    a, b = spread(ref), spread(own)
    if a is None or b is None:
        return f"{text} (one seed: no spread)"
    if ranges_overlap(a, b):
        return f"{text}, within noise"
    return f"{text}, IDAP++ {'better' if diff > 0 else 'worse'}"


def speed_verdict(ref: Timed | None, own: Timed | None) -> str:
    if ref is None or own is None:
        return "not timed"
    ratio = own.ms / ref.ms
    if ranges_overlap((ref.low, ref.high), (own.low, own.high)):
        return f"{ratio:.2f}x, within noise"
    return f"{ratio:.2f}x, IDAP++ {'faster' if ratio > 1 else 'slower'}"


def time_cell(best) -> str:
    if best is None:
        return "not timed"
    key, t = best
    # the 95 % interval of a side-by-side comparison; a task's own timing has only its p10-p90 spread
    interval = "" if t.high <= t.low else f" ({'' if t.paired else 'p10–p90 '}{t.low:.3f}–{t.high:.3f})"
    return f"{t.ms:.3f}{interval} {label(*key)}"


def comparison_table(group: ModelGroup, batch: int) -> Table:
    entries = [group.baseline] + sorted((e for e in group.measured if not e.is_baseline), key=lambda e: e.method)
    ref = next((e for e in entries if any(s["name"] == REFERENCE for s in e.steps)), None)
    ref_time = fastest_deployment(ref, batch) if ref is not None else None
    split = "test" if all(e.has_test for e in entries) else "/".join(sorted({e.final_split for e in entries}))
    rows = []
    for e in entries:
        best = fastest_deployment(e, batch)
        verdict = "—"
        if ref is not None and e is not ref and not e.is_baseline:
            verdict = (
                f"top-1 {accuracy_verdict(ref.final_top1, e.final_top1)}; "
                f"time {speed_verdict(ref_time[1] if ref_time else None, best[1] if best else None)}"
            )
        rows.append(
            [
                group.model,
                group.dataset.split("/")[-2] if "/" in group.dataset else group.dataset,
                "Baseline" if e.is_baseline else e.method,
                "—" if e.is_baseline else e.compression,
                str(finetune_epochs(e)) if not e.is_baseline else "—",
                human_count(e.mean("macs")) if e.mean("macs") else "not measured",
                size_cell(e),
                time_cell(best),
                e.final_top1.format(),
                verdict,
            ]
        )
    return Table(
        [
            "Architecture",
            "Dataset",
            "Method",
            "Settings",
            "Fine-tuning epochs",
            "MACs",
            "Size",
            f"Inference time b{batch} (ms, 95 % CI, fastest deployment)",
            f"Top-1 {split} (%)",
            "IDAP++ against it",
        ],
        rows,
        "lllllrrlrl",
    )


def comparison_sections(groups: list[ModelGroup]) -> list[Section]:
    """One table per model whose run compares several compression methods with IDAP++ among them."""
    out = []
    for g in groups:
        methods = [e for e in g.measured if not e.is_baseline]
        if g.baseline is None or len(methods) < 2 or not any(s["name"] == REFERENCE for e in methods for s in e.steps):
            continue
        batch = min(g.batch_sizes, default=1)
        out.append(
            Section(
                f"Comparison with IDAP++: {g.model} on {g.dataset}",
                [
                    Text(
                        "Seed 004's layout. Top-1 is mean ± sample std over seeds on the split named in the header; "
                        "inference time is each model's fastest deployment on this CPU with the 95 % interval of its "
                        "median over rounds. \"IDAP++ against it\": IDAP++'s top-1 minus this row's, and this row's "
                        "time over IDAP++'s; within noise where the seed spreads or the time intervals overlap."
                    ),
                    comparison_table(g, batch),
                ],
                level=3,
            )
        )
    return out
