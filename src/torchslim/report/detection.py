"""Seed 003's table for a detector run: one block of rows per batch size, for each image size.

Speedups are relative to the unpruned model fine-tuned for the same epochs (the "0" row), timed in
the same interleaved session. mAP is measured for every checkpoint; a cell without a value says
why, never 'xx.xx'.
"""

from __future__ import annotations

from pathlib import Path

from torchslim.config.detect import DetectRunConfig
from torchslim.latency_comparison import comparison_entries
from torchslim.measurement.ratio import SpeedRatio, min_rounds_for, ratio_from_rounds
from torchslim.report.document import Document, Section, Text, write_document
from torchslim.report.method_tables import interval_cell, times
from torchslim.report.runs import hardware_lines
from torchslim.report.stats import ranges_overlap
from torchslim.report.tables import Table
from torchslim.store import ResultRow, Store

REFERENCE = "finetune"  # the method of the fair reference: the baseline fine-tuned as long as each level


def step_of(row: ResultRow) -> dict:
    """The row's (first) method step as resolved: name and every setting ({} for the baseline)."""
    chain = row.config.get("chain") or [{}]
    return chain[0]


def is_reference(row: ResultRow) -> bool:
    return step_of(row).get("name") == REFERENCE


def is_pruned(row: ResultRow) -> bool:
    return row.method_chain != "baseline" and not is_reference(row)


def level_of(row: ResultRow) -> float:
    """The fraction of channels the row's pruning removed from every group (0 for the reference)."""
    return float(step_of(row).get("params", {}).get("ratio") or 0.0)


def timed_as(row: ResultRow) -> str:
    """The row's name in the latency tables: the reference's is ``finetune``, whatever its epochs."""
    return REFERENCE if is_reference(row) else row.method_chain


def latencies(entries: list[dict], rows: list[ResultRow]) -> dict:
    """{(chain, runtime, imgsz, batch): timing} of a stored comparison (the first variant of each runtime),
    the reference under ``finetune``."""
    names = {r.method_chain: timed_as(r) for r in rows}
    out: dict = {}
    for x in entries:
        out.setdefault((names.get(x["chain"], x["chain"]), x["runtime"], x["input_shape"][-1], x["batch_size"]), x)
    return out


def speedup_interval(lat: dict, chain: str, runtime: str, size: int, batch: int) -> SpeedRatio | None:
    """The reference's time over ``chain``'s with its 95 % interval, from the rounds they were timed
    side by side in (None for timings stored without enough rounds)."""
    ref, own = lat.get(("finetune", runtime, size, batch)), lat.get((chain, runtime, size, batch))
    a, b = (ref or {}).get("rounds_s") or (), (own or {}).get("rounds_s") or ()
    if len(a) != len(b) or len(a) < min_rounds_for(0.95):
        return None
    return ratio_from_rounds(list(a), list(b))


def speedup(lat: dict, chain: str, runtime: str, size: int, batch: int) -> str:
    """Reference time / this time with its interval (``2.04x (1.95–2.11)``). Timings stored before
    rounds were kept fall back to the medians: below 0.95x it says SLOWER, unless the two p10-p90
    ranges overlap: then the difference is within the measured noise, and it says that instead."""
    ref, own = lat.get(("finetune", runtime, size, batch)), lat.get((chain, runtime, size, batch))
    if not ref or not own:
        return "not measured"
    if chain == "finetune":
        return "1.00x"
    if (interval := speedup_interval(lat, chain, runtime, size, batch)) is not None:
        return interval_cell(interval)
    overlap = ranges_overlap((own["p10_s"], own["p90_s"]), (ref["p10_s"], ref["p90_s"]))
    return times(ref["median_ms"] / own["median_ms"], within_noise=overlap, slower_below=0.95)


def seed003_table(rows: list[ResultRow], lat: dict, size: int, batches: list[int]) -> Table:
    ref = next(r for r in rows if is_reference(r))
    ordered = [ref] + sorted((r for r in rows if is_pruned(r)), key=level_of)
    out = []
    for b in batches:
        for r in ordered:
            m = r.metrics
            red = 1 - m["flops"] / ref.metrics["flops"]
            out.append(
                [
                    b,
                    "0 (baseline)" if r is ref else f"{100 * level_of(r):g}",
                    f"{m['params'] / 1e6:.2f}",
                    "-" if r is ref else f"-{100 * red:.0f}%",
                    speedup(lat, timed_as(r), "torch", size, b),
                    speedup(lat, timed_as(r), "onnxruntime", size, b),
                    f"{m['map50']:.3f}",
                    f"{m['map50_95']:.3f}",
                ]
            )
    return Table(
        ["Batch", "Prune %", "Params (M)", "FLOPs Red.", "PyTorch Speedup", "ONNX Speedup", "mAP50", "mAP50-95"],
        out,
        "rrrrrrrr",
        title=f"imgsz {size}",
    )


def latency_table(rows: list[ResultRow], lat: dict, size: int, batches: list[int], runtime: str) -> Table:
    chains = [REFERENCE] + [r.method_chain for r in sorted(rows, key=level_of) if is_pruned(r)]
    labels = {timed_as(r): ("0" if is_reference(r) else f"{100 * level_of(r):g}") for r in rows}
    body = []
    for c in chains:
        cells = []
        for b in batches:
            t = lat.get((c, runtime, size, b))
            cells.append(
                f"{t['median_ms']:.1f} (p10-p90 {t['p10_s'] * 1e3:.1f}-{t['p90_s'] * 1e3:.1f})" if t else "not measured"
            )
        body.append([labels[c], *cells])
    return Table(
        ["Prune %", *[f"batch {b} (ms)" for b in batches]],
        body,
        "r" * (1 + len(batches)),
        title=f"{runtime}, imgsz {size}: median latency per batch",
    )


def dynamics_table(rows: list[ResultRow]) -> Table:
    """Each level's steps as its method recorded them (``MethodContext.record_step``): step 0 is the model
    it started from, each later step a cut followed by its fine-tuning, validated."""
    body = []
    for r in sorted((r for r in rows if is_pruned(r)), key=level_of):
        notes = r.metrics.get("method_notes", {})
        tuned = [f["epochs"] for f in notes.get("finetune", [])]
        for s in notes.get("dynamics", []):
            epochs = tuned[s["step"] - 1] if 0 < s["step"] <= len(tuned) else 0
            body.append(
                [
                    f"{100 * level_of(r):g}",
                    s["step"],
                    epochs,
                    f"{s['params'] / 1e6:.2f}",
                    f"{s['macs'] / 1e9:.3f}",
                    f"{s['map50']:.3f}",
                    f"{s['map50_95']:.3f}",
                    f"{s['seconds']:.0f}",
                ]
            )
    return Table(
        ["Prune %", "Step", "Fine-tune epochs", "Params (M)", "GFLOPs (train imgsz)", "mAP50", "mAP50-95", "Time (s)"],
        body,
        "rrrrrrrr",
    )


def build(cfg: DetectRunConfig, rows: list[ResultRow], lat: dict, source: str) -> Document:
    base = next(r for r in rows if r.method_chain == "baseline")
    ref = next(r for r in rows if is_reference(r))
    m = cfg.measure
    intro = (
        f"`torchslim run {source}`: {base.model} on {base.dataset} (train and validation at imgsz "
        f"{cfg.train.imgsz}), trained {cfg.train.epochs} epochs (mAP50 {base.metrics['map50']:.3f}, mAP50-95 "
        f"{base.metrics['map50_95']:.3f}). Each prune level starts from that model, removes that fraction of "
        f"the channels of every prunable Torch-Pruning group in {cfg.prune.steps} step(s), and is fine-tuned "
        f"{cfg.prune.finetune_epochs} epochs in all with Ultralytics' trainer; the '0 (baseline)' row is the "
        f"unpruned model fine-tuned the same {ref.metrics['epochs']} epochs, the reference of every speedup."
    )
    sections = [
        Section(f"Pruning and benchmark, imgsz {size}", [seed003_table(rows, lat, size, m.batch_sizes)])
        for size in m.imgsz
    ]
    sections.append(
        Section(
            "How it was measured",
            [
                Text(
                    "- **Params**: all parameters of the saved checkpoint. **FLOPs Red.**: FLOPs at imgsz "
                    f"{max(m.imgsz)} "
                    "against the reference (counted by torch's FlopCounterMode).\n"
                    "- **Speedups**: median latency of the reference over that of the checkpoint, per batch size, all "
                    f"checkpoints timed side by side in {m.rounds} interleaved rounds in one process "
                    "(PyTorch: Conv+BN fused; "
                    "ONNX Runtime: the exported graph, CPUExecutionProvider), threads "
                    f"{cfg.threads or 'all cores'}. Each speedup is the median of the per-round ratios with its 95 % "
                    "order-statistic interval over the rounds; 'within noise' marks an interval that includes 1.0, "
                    "'SLOWER' one wholly below it (the spreads are in the latency tables below).\n"
                    "- **mAP**: Ultralytics' validator on the val split of the data at imgsz "
                    f"{cfg.train.imgsz}, for every "
                    "checkpoint, on a copy of the model loaded from its saved artifact."
                )
            ],
        )
    )
    for size in m.imgsz:
        sections.append(
            Section(
                f"Latency, imgsz {size}",
                [latency_table(rows, lat, size, m.batch_sizes, rt) for rt in m.runtimes],
                level=3,
            )
        )
    sections.append(Section("Pruning dynamics (per step, validated after its fine-tuning)", [dynamics_table(rows)]))
    sections.append(Section("Hardware", [Text(hardware_lines(rows))]))
    return Document(f"{cfg.name}: detector pruning", intro, sections)


def write_detect_report(
    cfg: DetectRunConfig,
    rows: list[ResultRow],
    store: Store,
    source: str,
    formats: tuple[str, ...] | list[str] = ("md", "html"),
    console=None,
) -> dict[str, Path]:
    """Write report.md / report.html (those of ``formats``) and print the terminal view if asked; the
    latencies are the run's side-by-side comparison (``latency_comparison``)."""
    lat = latencies(comparison_entries(store, rows, cfg.measure), rows)
    return write_document(build(cfg, rows, lat, source), cfg.run_dir, formats, console)
