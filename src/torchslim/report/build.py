"""``torchslim report``: a run's whole report rebuilt from the results store, in every format asked for.

Nothing is recomputed and no artifact file is read: the store holds every figure, so the report
can be regenerated at any time, identical, even after the run folder's artifacts were deleted.
"""

from __future__ import annotations

from pathlib import Path

from torchslim.config import RunConfig
from torchslim.errors import TorchslimError
from torchslim.latency_comparison import stored_comparison
from torchslim.owned_folders import fresh_folder, run_folder
from torchslim.report.comparison import comparison_sections
from torchslim.report.deployments import deployment_sections
from torchslim.report.document import Document, Section, Text, code_span, write_document
from torchslim.report.entries import ModelGroup, group_entries
from torchslim.report.gpu_latency import gpu_sections
from torchslim.report.method_tables import batch_tables, methods_sections, seeds_table
from torchslim.report.runs import hardware_lines, runs_table
from torchslim.report.tradeoffs import analysis_sections, dynamics_sections, tradeoff_plot_section
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task, expand

FORMATS = ("md", "html", "terminal")
FIGURES = "report_files"


def parse_formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise TorchslimError(
            f"unknown report format {', '.join(map(repr, bad)) or repr(text)}; "
            f"valid: {', '.join(FORMATS)} (comma-separated)"
        )
    return chosen


def collect(
    cfg: RunConfig, store: Store, source: str = "", tasks: list[Task] | None = None
) -> tuple[list[ResultRow], list[tuple], dict]:
    """The store's rows for the config's tasks (expanded here unless given), every expected task key,
    and why absent ones are absent."""
    tasks = expand(cfg, source) if tasks is None else tasks
    rows = [r for t in tasks if (r := store.get(t.key)) is not None]
    expected = [(t.model.label, t.dataset.name, t.method_chain, t.seed) for t in tasks]
    reasons = {
        (t.model.label, t.dataset.name, t.method_chain, t.seed): f"failed: {msg}"
        for t in tasks
        if (msg := store.failure(t.key))
    }
    return rows, expected, reasons


def attach_comparisons(groups: list[ModelGroup], cfg: RunConfig, store: Store) -> bool:
    """Give entries the side-by-side latencies of their model's first-seed artifacts, where stored."""
    found = False
    for g in groups:
        rows = [r for e in g.entries for r in e.rows if r.seed == cfg.seeds[0]]
        m = cfg.measure
        comp = stored_comparison(store, rows, m)
        first: dict[tuple[str, int], str] = {}  # each runtime's first variant fills the per-runtime tables
        for chain, rt, variant, b in comp or {}:
            first.setdefault((rt, b), variant)
        for e in g.entries if comp else []:
            mine = {(rt, v, b): x for (chain, rt, v, b), x in comp.items() if chain == e.chain}
            e.compared = {(rt, b): x[0] for (rt, v, b), x in mine.items() if first[(rt, b)] == v}
            e.compared_range = {(rt, b): x[1:3] for (rt, v, b), x in mine.items() if first[(rt, b)] == v}
            e.compared_rounds = {(rt, b): x[3] for (rt, v, b), x in mine.items() if first[(rt, b)] == v}
            e.deployed = {((rt, v), b): (x[0], x[3]) for (rt, v, b), x in mine.items()}
            found = True
    return found


def stored_groups(
    cfg: RunConfig, store: Store, source: str = "", tasks: list[Task] | None = None
) -> tuple[list[ResultRow], list[ModelGroup]]:
    """The store's rows for the config and their entries per model, with the side-by-side latencies
    attached: what every table is built from (without them a table would show each task's own timing,
    taken whenever and beside whatever ran with it)."""
    rows, expected, reasons = collect(cfg, store, source, tasks)
    groups = group_entries(rows, expected, reasons)
    attach_comparisons(groups, cfg, store)
    return rows, groups


def split_line(rows: list[ResultRow]) -> str:
    """Where the report's top-1 figures were measured, and where settings were chosen."""
    first = rows[0]
    chosen = f"{first.metrics['eval_split']} split ({first.config.get('split', '')})"
    if all(r.metrics.get("test_top1") is not None for r in rows):
        return f"top-1 on the test split ({first.metrics.get('test_split', '')}); settings chosen on the {chosen}"
    return f"top-1 on the {chosen}"


def build_document(
    cfg: RunConfig, rows: list[ResultRow], groups: list[ModelGroup], source: str, figdir: Path
) -> Document:
    n_missing = sum(len(e.missing) for g in groups for e in g.entries)
    intro = (
        f"Command: {code_span('torchslim run ' + (source or '<config>'))} · seeds {', '.join(map(str, cfg.seeds))} · "
        f"{len(rows)} finished run(s)"
        + (f", {n_missing} missing (named in the tables)" if n_missing else "")
        + (f" · {split_line(rows)}" if rows else "")
        + ". Regenerate with `torchslim report "
        + str(cfg.run_dir)
        + ("" if cfg.store == type(cfg).model_fields["store"].default else f" --store {cfg.store}")
        + "`."
    )
    if not rows:
        return Document(cfg.name, intro, [Section("No results", [Text("No finished runs in the store yet.")])])
    sections = methods_sections(groups)
    sections += comparison_sections(groups)
    sections += analysis_sections(groups, figdir)
    sections.append(
        Section(
            "Multi-seed results",
            [
                Text(
                    "Seed 002's layout: mean and sample standard deviation over seeds, one column per run, the config "
                    "each row came from. Δ is paired: the mean over seeds of (method − original of the same seed)."
                ),
                seeds_table(groups, list(cfg.seeds)),
            ],
        )
    )
    per_batch = [t for g in groups for t in batch_tables(g)]
    if per_batch:
        sections.append(
            Section(
                "Pruning by batch size",
                [
                    Text(
                        "Seed 003's layout: per batch size, speedups against the original at the same batch "
                        "and runtime."
                    ),
                    *per_batch,
                ],
            )
        )
    sections += deployment_sections(groups)
    sections += gpu_sections(groups)
    sections += dynamics_sections(groups, figdir)
    sections += tradeoff_plot_section(groups, figdir)
    sections.append(Section("Every run", [runs_table(rows)]))
    sections.append(Section("Hardware and software", [Text(hardware_lines(rows))]))
    return Document(cfg.name, intro, sections)


def write_report(
    cfg: RunConfig,
    store: Store,
    source: str = "",
    formats: list[str] | tuple[str, ...] = ("md", "html"),
    console=None,
    charts_only: bool = False,
    tasks: list[Task] | None = None,
    builder=None,
) -> dict[str, Path]:
    """Write report.md / report.html into the run folder and print the terminal view; returns the files.
    ``tasks``: the run's expanded tasks, when the caller has them (expanding hashes data folders again).
    ``builder``: a task kind's own document (default: classification's, ``build_document``)."""
    rows, groups = stored_groups(cfg, store, source, tasks)
    run_dir = cfg.run_dir
    run_folder(run_dir)
    fresh_folder(run_dir / FIGURES, legacy=["*.png"])  # regenerated, so none may go stale
    doc = (builder or build_document)(cfg, rows, groups, source, run_dir / FIGURES)
    return write_document(doc, run_dir, formats, console, charts_only)
