"""Seed 004's image-generation table: architecture, dataset, method, inference time (fastest deployment,
95 % interval), FID in its named feature space (↓), and a grid of samples per method from the same latents.

FID is the mean over the FID sample seeds (its spread beside it) of each training seed's generator; with
several training seeds the spread is over them instead. KID sits beside it when it was computed.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from torchslim.artifacts import stored_artifact
from torchslim.report.comparison import time_cell
from torchslim.report.deployments import fastest_deployment
from torchslim.report.document import Document, Figure, Section, Text, code_span
from torchslim.report.entries import Entry, ModelGroup
from torchslim.report.runs import hardware_lines
from torchslim.report.tables import Table, human_count
from torchslim.store import ResultRow

SAMPLES = "samples.png"  # the grid each generation task writes into its folder


def fid_cell(e: Entry) -> str:
    """``24.10 ± 0.31`` (spread over sample seeds for one generator, over training seeds for several)."""
    fids = [r.metrics["fid"] for r in e.rows if r.metrics.get("fid") is not None]
    if not fids:
        return "not measured"
    if len(fids) > 1:
        return f"{statistics.fmean(fids):.2f} ± {statistics.stdev(fids):.2f} ({len(fids)} seeds)"
    return f"{fids[0]:.2f} ± {e.rows[0].metrics.get('fid_std', 0.0):.2f}"


def kid_cell(e: Entry) -> str:
    kids = [r.metrics["kid"] for r in e.rows if r.metrics.get("kid") is not None]
    return f"{1000 * statistics.fmean(kids):.2f}" if kids else "—"


def generation_table(group: ModelGroup, batch: int, features: str) -> Table:
    entries = [group.baseline] + sorted((e for e in group.measured if not e.is_baseline), key=lambda e: e.method)
    rows = []
    for e in entries:
        rows.append(
            [
                group.model,
                group.dataset.split("/")[-2] if "/" in group.dataset else group.dataset,
                "Original" if e.is_baseline else e.method,
                "—" if e.is_baseline else e.compression,
                human_count(e.mean("macs")) if e.mean("macs") else "not measured",
                human_count(e.mean("params")) if e.mean("params") else "—",
                time_cell(fastest_deployment(e, batch)),
                fid_cell(e),
                kid_cell(e),
            ]
        )
    headers = [
        "Architecture",
        "Dataset",
        "Method",
        "Compression",
        "MACs",
        "Params",
        f"Inference time b{batch} (ms, 95 % CI, fastest deployment)",
        f"{features} ↓",
        "KID ×1000 ↓",
    ]
    return Table(headers, rows, align="llllrrlrr")


def sample_figures(group: ModelGroup, figdir: Path) -> list:
    """Each method's sample grid (first seed), copied beside the report; a missing one is said."""
    out: list = []
    for e in [group.baseline] + [x for x in group.measured if not x.is_baseline]:
        if e is None or not e.rows:
            continue
        row = min(e.rows, key=lambda r: r.seed)
        grid = stored_artifact(row).folder / SAMPLES
        name = "Original" if e.is_baseline else e.label
        if not grid.is_file():
            out.append(Text(f"- {name}: no sample grid in {grid.parent}"))
            continue
        figdir.mkdir(parents=True, exist_ok=True)
        target = figdir / f"samples_{len(out)}.png"
        shutil.copyfile(grid, target)
        out.append(Figure(target, f"{name}: 64 samples, the same latents for every method (seed {row.seed})"))
    return out


def generation_document(cfg, rows: list[ResultRow], groups: list[ModelGroup], source: str, figdir: Path) -> Document:
    features = next((r.metrics["fid_features"] for r in rows if r.metrics.get("fid_features")), "FID")
    first = rows[0].metrics if rows else {}
    intro = (
        f"Command: {code_span('torchslim run ' + (source or '<config>'))} · seeds {', '.join(map(str, cfg.seeds))} · "
        f"{len(rows)} finished run(s) · {features}: between {first.get('fid_samples', '?')} generated images per "
        f"sample seed ({len(first.get('fid_per_seed', []))} seeds) and the {first.get('fid_reference_images', '?')} "
        "images of the test split. This is not Inception FID: it is comparable only with figures in the same "
        f"feature space. Regenerate with `torchslim report {cfg.run_dir}`."
    )
    if not rows:
        return Document(cfg.name, intro, [Section("No results", [Text("No finished runs in the store yet.")])])
    batch = max(cfg.measure.batch_sizes)
    sections = []
    for g in groups:
        if g.baseline is None:
            continue
        blocks: list = [generation_table(g, batch, features)]
        waiting = [f"- {e.chain}: {', '.join(map(str, e.missing.values()))}" for e in g.entries if e.missing]
        if waiting:
            blocks.append(Text("Not in the store yet:\n" + "\n".join(waiting)))
        blocks += sample_figures(g, figdir)
        sections.append(Section(f"Image generation: {g.model} on {g.dataset}", blocks))
    sections.append(Section("Machine", [Text(hardware_lines(rows))]))
    return Document(cfg.name, intro, sections)
