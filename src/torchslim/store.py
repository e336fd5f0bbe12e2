"""The results store: one SQLite database per workspace, one row per finished task.

A row is keyed by (config hash, model, dataset, method chain, seed). It is written in a single
transaction only when its task has finished, so a killed run loses at most the task in progress
and never leaves a half-written or duplicated row. WAL mode lets ``results`` read while a run writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    config_hash   TEXT NOT NULL,
    run_name      TEXT NOT NULL,
    model         TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    method_chain  TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    metrics       TEXT NOT NULL,
    artifacts     TEXT NOT NULL,
    config        TEXT NOT NULL,
    git_commit    TEXT NOT NULL,
    versions      TEXT NOT NULL,
    hardware      TEXT NOT NULL,
    created_at    REAL NOT NULL,
    UNIQUE (config_hash, model, dataset, method_chain, seed)
);
"""
CREATE_BENCHMARKS = """
CREATE TABLE IF NOT EXISTS benchmarks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target      TEXT NOT NULL,
    config      TEXT NOT NULL,
    result      TEXT NOT NULL,
    git_commit  TEXT NOT NULL,
    versions    TEXT NOT NULL,
    hardware    TEXT NOT NULL,
    created_at  REAL NOT NULL
);
"""
CREATE_FAILURES = """
CREATE TABLE IF NOT EXISTS failures (
    config_hash   TEXT NOT NULL,
    model         TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    method_chain  TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    message       TEXT NOT NULL,
    created_at    REAL NOT NULL,
    UNIQUE (config_hash, model, dataset, method_chain, seed)
);
"""
JSON_COLUMNS = ("metrics", "artifacts", "config", "versions", "hardware")
KEY_COLUMNS = ("config_hash", "model", "dataset", "method_chain", "seed")


@dataclass
class ResultRow:
    config_hash: str
    run_name: str
    model: str
    dataset: str
    method_chain: str
    seed: int
    metrics: dict[str, Any]
    artifacts: dict[str, str]
    config: dict[str, Any]
    git_commit: str
    versions: dict[str, Any]
    hardware: dict[str, Any]
    created_at: float = field(default_factory=time.time)
    id: int | None = None

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, c) for c in KEY_COLUMNS)


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA + CREATE_BENCHMARKS + CREATE_FAILURES)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def has(self, key: tuple) -> bool:
        where = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)
        with closing(self._connect()) as con:
            return con.execute(f"SELECT 1 FROM results WHERE {where}", key).fetchone() is not None

    def get(self, key: tuple) -> ResultRow | None:
        where = {c: v for c, v in zip(KEY_COLUMNS, key)}
        rows = self.rows(**where)
        return rows[0] if rows else None

    def put(self, row: ResultRow) -> None:
        """Insert, or replace the row with the same key (a forced rerun), in one transaction."""
        cols = [c for c in ResultRow.__dataclass_fields__ if c != "id"]
        values = [json.dumps(getattr(row, c), sort_keys=True) if c in JSON_COLUMNS else getattr(row, c) for c in cols]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in KEY_COLUMNS)
        sql = (
            f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}"
        )
        with closing(self._connect()) as con, con:
            con.execute(sql, values)
            con.execute(f"DELETE FROM failures WHERE {' AND '.join(f'{c} = ?' for c in KEY_COLUMNS)}", row.key)

    def put_failure(self, key: tuple, message: str) -> None:
        """Why a task did not finish, so a report can say so; a later success removes it."""
        with closing(self._connect()) as con, con:
            con.execute(
                f"INSERT OR REPLACE INTO failures ({', '.join(KEY_COLUMNS)}, message, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, message, time.time()),
            )

    def failure(self, key: tuple) -> str | None:
        where = " AND ".join(f"{c} = ?" for c in KEY_COLUMNS)
        with closing(self._connect()) as con:
            hit = con.execute(f"SELECT message FROM failures WHERE {where}", key).fetchone()
        return hit["message"] if hit else None

    def rows(self, **filters: Any) -> list[ResultRow]:
        return list(self.iter_rows(**filters))

    def iter_rows(self, **filters: Any) -> Iterator[ResultRow]:
        filters = {k: v for k, v in filters.items() if v is not None}
        unknown = set(filters) - set(ResultRow.__dataclass_fields__)
        if unknown:
            raise ValueError(f"cannot filter results by {sorted(unknown)}")
        where = " AND ".join(f"{k} = ?" for k in filters) or "1"
        with closing(self._connect()) as con:
            for r in con.execute(f"SELECT * FROM results WHERE {where} ORDER BY id", list(filters.values())):
                yield ResultRow(**{k: json.loads(r[k]) if k in JSON_COLUMNS else r[k] for k in r.keys()})

    def put_benchmark(self, target: str, config: dict, result: dict, provenance: dict) -> int:
        """Every benchmark invocation is its own observation: appended, never deduplicated."""
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT INTO benchmarks (target, config, result, git_commit, versions, hardware, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    target,
                    json.dumps(config),
                    json.dumps(result),
                    provenance["git_commit"],
                    json.dumps(provenance["versions"]),
                    json.dumps(provenance["hardware"]),
                    time.time(),
                ),
            )
            return int(cur.lastrowid)

    def benchmarks(self, target: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM benchmarks" + (" WHERE target = ?" if target else "") + " ORDER BY id"
        with closing(self._connect()) as con:
            return [
                {k: json.loads(r[k]) if k in ("config", "result", "versions", "hardware") else r[k] for k in r.keys()}
                for r in con.execute(sql, [target] if target else [])
            ]
