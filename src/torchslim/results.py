"""Store rows as a terminal table, JSON or CSV, for ``torchslim results``, ``torchslim run`` and scripts."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from rich.markup import escape
from rich.table import Table

from torchslim.errors import TorchslimError
from torchslim.store import ResultRow

FORMATS = ("json", "csv")

#: the table's columns: (header, metric key, format); a row of a kind without the metric shows "—"
COLUMNS = (
    ("top-1 %", "top1", "{:.2f}"),
    ("top-5 %", "top5", "{:.2f}"),
    ("mAP50-95", "map50_95", "{:.3f}"),
    ("FID", "fid", "{:.2f}"),
    ("params", "params", "{:,}"),
    ("MACs", "macs", "{:,}"),
)


def rows_table(rows: list[ResultRow]) -> Table:
    """One line per stored task; a column only where some row has its metric (classification or detection)."""
    table = Table(title="results")
    columns = [c for c in COLUMNS if any(c[1] in r.metrics for r in rows)]
    for col in ("model", "dataset", "method", "seed", *(c[0] for c in columns), "time s"):
        table.add_column(col, justify="left" if col in ("model", "dataset", "method") else "right")
    for r in rows:
        m = r.metrics
        cells = [fmt.format(m[key]) if m.get(key) is not None else "—" for _, key, fmt in columns]
        seconds = m.get("train_seconds", m.get("compress_seconds", 0.0))
        table.add_row(escape(r.model), escape(r.dataset), escape(r.method_chain), str(r.seed), *cells, f"{seconds:.1f}")
    return table


def format_rows(rows: list[ResultRow], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        scalar = sorted({k for r in rows for k, v in r.metrics.items() if isinstance(v, (int, float, str))})
        writer = csv.writer(buf)
        writer.writerow(["model", "dataset", "method_chain", "seed", "config_hash", "git_commit", *scalar])
        for r in rows:
            writer.writerow(
                [
                    r.model,
                    r.dataset,
                    r.method_chain,
                    r.seed,
                    r.config_hash,
                    r.git_commit,
                    *[r.metrics.get(k, "") for k in scalar],
                ]
            )
        return buf.getvalue()
    raise TorchslimError(f"unknown format '{fmt}'; valid choices: table, {', '.join(FORMATS)}")
