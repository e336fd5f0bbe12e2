"""The tables of seeds 000 (methods per architecture), 002 (multi-seed) and 003 (per batch size).

Every cell is a measured value or says why it is absent; never a placeholder.
"""

from __future__ import annotations

from torchslim.measurement.ratio import SpeedRatio
from torchslim.report.document import Section, Text
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.tables import Table, best_cells, human_count


def ms(v: float | None, why: str = "not measured") -> str:
    return f"{v:.3f}" if v is not None else why


def times(v: float | None, why: str = "—", within_noise: bool = False, slower_below: float = 0.9) -> str:
    """A speedup; a compressed model that got slower is said so, not hidden, unless its timing
    range overlaps the original's, which is said instead."""
    if v is None:
        return why
    if v >= slower_below:
        return f"{v:.2f}x"
    return f"{v:.2f}x" + (" (within noise)" if within_noise else " SLOWER")


def speed_cell(group: ModelGroup, e: Entry, runtime: str, batch: int, why: str = "—") -> str:
    """The speedup of ``e`` over the group's original with its 95 % interval where they were timed
    side by side (``3.24x (3.05–3.41)``), labelled by :func:`times`."""
    interval = None if e is group.baseline else group.speedup_interval(e, runtime, batch)
    if interval is not None:
        return interval_cell(interval)
    return times(group.speedup(e, runtime, batch), why, group.within_noise(e, runtime, batch))


def interval_cell(interval: SpeedRatio) -> str:
    """``1.98x (1.89–2.04)``, labelled "(within noise)" when the interval includes 1.0 and "SLOWER"
    when it lies wholly below."""
    label = " (within noise)" if interval.within_noise else " SLOWER" if interval.high < 1.0 else ""
    return f"{interval.ratio:.2f}x ({interval.low:.2f}–{interval.high:.2f}){label}"


def why_no_torch(e: Entry) -> str:
    """INT8 artifacts are ONNX files: PyTorch's CPU INT8 path is the deprecated torch.ao one."""
    return "n/a (ONNX INT8)" if e.artifact is not None and e.artifact.kind == "onnx" else "not measured"


def methods_table(group: ModelGroup) -> Table:
    """Seed 000: methods sorted by accuracy, the best value of each column in bold."""
    batch = min(group.batch_sizes, default=1)
    entries = sorted(group.measured, key=lambda e: -e.final_top1.mean)
    splits = sorted({e.final_split for e in entries})
    rows, cols = [], {k: [] for k in ("acc", "params", "size", "macs", "ort", "torch")}
    for e in entries:
        ort, tor = e.latency_ms("onnxruntime", batch), e.latency_ms("torch", batch)
        nz = e.mean("nonzero_params")
        rows.append(
            [
                e.method,
                e.compression,
                e.final_top1.format(),
                human_count(nz) if nz is not None else "not measured",
                f"{e.size_bytes / 1e6:.2f} MB" if e.size_bytes else "not measured",
                human_count(e.mean("macs")) if e.mean("macs") else "not measured",
                ms(ort),
                ms(tor, why_no_torch(e)),
            ]
        )
        cols["acc"].append(round(e.final_top1.mean, 2))
        cols["params"].append(nz)
        cols["size"].append(round(e.size_bytes / 1e4) if e.size_bytes else None)
        cols["macs"].append(e.mean("macs"))
        cols["ort"].append(round(ort, 3) if ort is not None else None)
        cols["torch"].append(round(tor, 3) if tor is not None else None)
    bold = (
        best_cells(cols["acc"], 2, False)
        | best_cells(cols["params"], 3, True)
        | best_cells(cols["size"], 4, True)
        | best_cells(cols["macs"], 5, True)
        | best_cells(cols["ort"], 6, True)
        | best_cells(cols["torch"], 7, True)
    )
    return Table(
        [
            "Method",
            "Compression",
            f"Top-1 {' / '.join(splits)} (%)",  # the split it was measured on: mnist5k's test, a folder's val
            "Params (non-zero)",
            "Size",
            "MACs",
            f"Latency ORT b{batch} (ms)",
            f"Latency torch b{batch} (ms)",
        ],
        rows,
        "llrrrrrr",
        bold,
    )


def methods_sections(groups: list[ModelGroup]) -> list[Section]:
    out = []
    for g in groups:
        if not g.measured:
            continue
        blocks = [methods_table(g)]
        missing = [e for e in g.entries if not e.has_data]
        if missing:
            blocks.append(
                Text(
                    "Not in the table (no finished run): "
                    + "; ".join(f"{e.chain} ({next(iter(e.missing.values()))})" for e in missing)
                )
            )
        out.append(Section(f"{g.model} on {g.dataset}", blocks, level=3))
    if out:
        timed = (
            "every artifact of a model (first seed) timed side by side in one process, in interleaved rounds "
            "within each runtime"
            if any(e.compared for g in groups for e in g.entries)
            else "each task's own measurement when it finished (no side-by-side comparison stored)"
        )
        note = Text(
            "Seed 000's layout: sorted by accuracy (mean over seeds ± sample std); best value per column in "
            "bold. Size is the saved deployable file; params count non-zero weights. Latency is the median "
            f"of repeated timed runs, threads fixed: {timed}."
        )
        out.insert(0, Section("Compression methods by architecture", [note]))
    return out


def paired_delta(e: Entry, base: Entry | None) -> str:
    """Mean of (method - original) over seeds that have both: a paired difference, seed by seed."""
    if e.is_baseline:
        return "—"
    ref = {r.seed: r.metrics["top1"] for r in base.rows} if base else {}
    diffs = [r.metrics["top1"] - ref[r.seed] for r in e.rows if r.seed in ref]
    return f"{sum(diffs) / len(diffs):+.2f}" if diffs else "no original"


def seeds_table(groups: list[ModelGroup], seeds: list[int]) -> Table:
    """Seed 002: Mean, Std and one column per run, and the config file each row came from."""
    rows = []
    for g in groups:
        for e in g.entries:
            by_seed = {r.seed: r.metrics["top1"] for r in e.rows}
            stats = e.top1 if e.rows else None
            rows.append(
                [
                    g.model,
                    g.dataset,
                    e.label,
                    f"{stats.mean:.2f}" if stats else "missing",
                    (f"{stats.std:.2f}" if stats and stats.std is not None else "n/a (1 run)" if stats else "missing"),
                    paired_delta(e, g.baseline),
                    *[
                        f"{by_seed[s]:.2f}"
                        if s in by_seed
                        else f"missing: {e.missing.get(s, 'seed not in the config')}"
                        for s in seeds
                    ],
                    e.rows[0].config.get("source") or "—" if e.rows else "—",
                ]
            )
    return Table(
        [
            "Model",
            "Dataset",
            "Method",
            "Mean (%)",
            "Std (%)",
            "Δ vs original (paired)",
            *[f"Run {i + 1}: seed {s} (%)" for i, s in enumerate(seeds)],
            "Config File",
        ],
        rows,
        "lll" + "r" * (3 + len(seeds)) + "l",
    )


def batch_tables(group: ModelGroup) -> list[Table]:
    """Seed 003: one table per batch size, prune % against params, MACs reduction and both speedups."""
    base = group.baseline
    if base is None:
        return []
    pruned = sorted([e for e in group.measured if e.is_pruning], key=lambda e: (e.method, e.prune_fraction or 0))
    if not pruned:
        return []
    tables = []
    for b in group.batch_sizes:
        rows = [
            [
                b,
                "0 (baseline)",
                "Original",
                human_count(base.mean("nonzero_params")),
                "—",
                "1.00x",
                "1.00x",
                base.top1.format(),
            ]
        ]
        for e in pruned:
            red = 1 - e.mean("macs") / base.mean("macs") if e.mean("macs") and base.mean("macs") else None
            rows.append(
                [
                    b,
                    f"{100 * e.prune_fraction:.0f}" if e.prune_fraction is not None else "?",
                    e.method,
                    human_count(e.mean("nonzero_params")),
                    f"{-100 * red:.0f}%" if red is not None else "—",
                    speed_cell(group, e, "torch", b, why_no_torch(e)),
                    speed_cell(group, e, "onnxruntime", b, "not measured"),
                    e.top1.format(),
                ]
            )
        tables.append(
            Table(
                [
                    "Batch",
                    "Prune %",
                    "Method",
                    "Params (non-zero)",
                    "MACs Red.",
                    "PyTorch Speedup",
                    "ONNX Speedup",
                    "Top-1 (%)",
                ],
                rows,
                "rrlrrrrr",
                title=f"{group.model}, batch {b}",
            )
        )
    return tables
