"""Store rows as JSON or CSV, for ``torchslim results`` and for scripts."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from torchslim.errors import TorchslimError
from torchslim.store import ResultRow

FORMATS = ("json", "csv")


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
