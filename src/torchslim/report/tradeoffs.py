"""Seed 001's analysis, drawn from measurements: bar charts, summary, ratio vs speedup, size vs speed,
efficiency ranking and recommendations; plus the accuracy trade-off plots with their Pareto frontier."""

from __future__ import annotations

import hashlib
from pathlib import Path

from torchslim.report import plots
from torchslim.report.charts import BarChart, PairedBarChart
from torchslim.report.document import Figure, Section, Text
from torchslim.report.entries import ModelGroup
from torchslim.report.method_tables import ms, speed_cell, why_no_torch
from torchslim.report.recommend import efficiency_ranking, recommend
from torchslim.report.tables import Table, human_count


def _pct(v: float | None) -> str:
    return f"{100 * v:.1f}%" if v is not None else "—"


def charts(group: ModelGroup) -> list[BarChart]:
    b = min(group.batch_sizes, default=1)
    es = group.measured
    labels = [e.label for e in es]
    return [
        BarChart(
            "Size of the saved file (MB)", labels, [e.size_bytes / 1e6 if e.size_bytes else None for e in es], " MB"
        ),
        BarChart(
            f"Latency, ONNX Runtime, batch {b} (ms, median)",
            labels,
            [e.latency_ms("onnxruntime", b) for e in es],
            " ms",
            "{:.3f}",
        ),
        BarChart(
            f"Speedup vs original, ONNX Runtime, batch {b}",
            labels,
            [group.speedup(e, "onnxruntime", b) for e in es],
            "x",
        ),
    ]


def summary_table(group: ModelGroup) -> Table:
    b = min(group.batch_sizes, default=1)
    rows = []
    for e in group.measured:
        size_ratio, drop = group.size_ratio(e), group.top1_drop(e)
        rows.append(
            [
                e.label,
                f"{e.size_bytes / 1e6:.2f}" if e.size_bytes else "not measured",
                ms(e.latency_ms("onnxruntime", b)),
                speed_cell(group, e, "onnxruntime", b),
                ms(e.latency_ms("torch", b), why_no_torch(e)),
                speed_cell(group, e, "torch", b, why_no_torch(e)),
                _pct(1 - 1 / size_ratio) if size_ratio else "—",
                _pct(1 - e.mean("nonzero_params") / group.baseline.mean("nonzero_params"))
                if group.baseline and e.mean("nonzero_params")
                else "—",
                f"{e.top1.mean - group.baseline.top1.mean:+.2f}" if drop is not None else "—",
            ]
        )
    return Table(
        [
            "Method",
            "Size (MB)",
            f"ORT b{b} (ms)",
            "ORT speedup",
            f"torch b{b} (ms)",
            "torch speedup",
            "File size reduction",
            "Non-zero params reduction",
            "Δ top-1",
        ],
        rows,
        "lrrrrrrrr",
    )


def ratio_table(group: ModelGroup) -> Table | None:
    b = min(group.batch_sizes, default=1)
    pruned = sorted(
        [e for e in group.measured if e.is_pruning and e.prune_fraction is not None],
        key=lambda e: (e.method, e.prune_fraction),
    )
    if not pruned:
        return None
    rows = [
        [
            e.method,
            f"{100 * e.prune_fraction:.0f}%",
            f"{group.macs_ratio(e):.2f}x" if group.macs_ratio(e) else "—",
            speed_cell(group, e, "onnxruntime", b),
            speed_cell(group, e, "torch", b),
        ]
        for e in pruned
    ]
    return Table(
        ["Method", "Pruning ratio", "MACs reduction", f"ORT speedup b{b}", f"torch speedup b{b}"],
        rows,
        "lrrrr",
        title="Pruning ratio against measured speedup",
    )


def size_vs_speed(group: ModelGroup) -> PairedBarChart:
    b = min(group.batch_sizes, default=1)
    items = []
    for e in group.measured:
        if e.is_baseline:
            continue
        sr, sp = group.size_ratio(e), group.speedup(e, "onnxruntime", b)
        items.append((e.label, 100 * (1 - 1 / sr) if sr else None, 100 * (sp - 1) if sp else None))
    return PairedBarChart(
        f"Size reduction vs speed gain against the original (file size; ONNX Runtime, batch {b})",
        items,
        ("Size reduction", "Speed gain"),
        note="A negative value means bigger or slower than the original; its bar is left empty.",
    )


def ranking_table(group: ModelGroup, tolerance: float) -> tuple[str, Table]:
    rule, ranked = efficiency_ranking(group, tolerance)
    b = min(group.batch_sizes, default=1)  # the batch the ranking scores speed at
    rows, n = [], 0
    for r in ranked:
        n += r.within_budget and r.score is not None
        rank = (
            str(n)
            if r.within_budget and r.score is not None
            else "— (outside budget)"
            if not r.within_budget
            else "— (not measured)"
        )
        rows.append(
            [
                rank,
                r.entry.label,
                f"{r.score:.2f}" if r.score is not None else "—",
                f"{r.size_ratio:.2f}x" if r.size_ratio else "—",
                speed_cell(group, r.entry, "onnxruntime", b),
                f"{r.entry.top1.mean - group.baseline.top1.mean:+.2f}",
            ]
        )
    return rule, Table(["Rank", "Method", "Score", "Size reduction", "ORT speedup", "Δ top-1"], rows, "llrrrr")


def analysis_sections(groups: list[ModelGroup], figdir: Path, tolerance: float = 1.0) -> list[Section]:
    out = []
    for g in groups:
        if g.baseline is None or len(g.measured) < 2:
            continue
        tag = f"{g.model}_{g.dataset}".replace(":", "-").replace("/", "-")
        blocks: list = [*charts(g), summary_table(g)]
        rt = ratio_table(g)
        if rt is not None:
            blocks.append(rt)
            fig = plots.ratio_speedup_plot(g, figdir / f"{tag}_ratio_speedup.png")
            if fig:
                blocks.append(Figure(fig, f"{g.model}: pruning ratio against measured speedup"))
        blocks.append(size_vs_speed(g))
        rule, table = ranking_table(g, tolerance)
        blocks += [Text(f"**Efficiency ranking.** Rule: {rule}."), table]
        recs = recommend(g, tolerance)
        blocks.append(
            Text(
                "**Deployment recommendations** (each derived from the measured numbers by its rule):\n"
                + "\n".join(r.line() for r in recs)
            )
        )
        out.append(Section(f"Trade-offs and recommendations: {g.model} on {g.dataset}", blocks))
    return out


def tradeoff_plot_section(groups: list[ModelGroup], figdir: Path) -> list[Section]:
    blocks = []
    for g in groups:
        tag = f"{g.model}_{g.dataset}".replace(":", "-").replace("/", "-")
        for cost in ("macs", "latency"):
            fig = plots.tradeoff_plot(g, cost, figdir / f"{tag}_acc_vs_{cost}.png")
            if fig:
                blocks.append(
                    Figure(
                        fig,
                        f"{g.model} on {g.dataset}: top-1 against "
                        f"{'MACs' if cost == 'macs' else 'measured ONNX Runtime latency'}; "
                        "orange line = Pareto frontier",
                    )
                )
    return [Section("Accuracy trade-offs (Pareto frontier)", blocks)] if blocks else []


def dynamics_sections(groups: list[ModelGroup], figdir: Path) -> list[Section]:
    """Seed 004: per-step table and plots for any method that recorded its steps."""
    blocks = []
    for g in groups:
        for e in g.measured:
            steps = e.dynamics
            if not steps:
                continue
            rows = [
                [
                    s["step"],
                    s["stage"],
                    f"{2 * s['macs'] / 1e9:.4f}",
                    human_count(s["params"]),
                    f"{s['top1']:.2f}",
                    f"{s['top5']:.2f}",
                    f"{s.get('seconds', 0.0):.1f}",
                ]
                for s in steps
            ]
            blocks.append(
                Table(
                    ["Step", "Stage", "GFLOPs", "Params", "Top-1 (%)", "Top-5 (%)", "Wall time (s)"],
                    rows,
                    "rlrrrrr",
                    title=f"{g.model}: {e.label} (seed {e.rows[0].seed})",
                )
            )
            tag = f"{g.model}|{g.dataset}|{e.chain}"  # the whole chain: two chains may share a long prefix
            fig = plots.dynamics_plot(e, figdir / f"dynamics_{hashlib.sha1(tag.encode()).hexdigest()[:10]}.png")
            if fig:
                blocks.append(Figure(fig, f"{g.model}: {e.label}: GFLOPs, params, top-1 and top-5 per step"))
    return [Section("Compression dynamics per step", blocks)] if blocks else []
