"""The results store: one SQLite database per workspace, one row per finished task.

A row is keyed by (config hash, model, dataset, method chain, seed). It is written in a single
transaction only when its task has finished, so a killed run loses at most the task in progress
and never leaves a half-written or duplicated row. WAL mode lets ``results`` read while a run writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from torchslim.errors import DiskFullError, TorchslimError, is_disk_full

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
# Rows are listed by what they are, not by when a worker happened to finish them: parallel seeds land in either
# order, and a listing that changes between identical runs is not reproducible. Baselines come first.
ROW_ORDER = "model, dataset, method_chain != 'baseline', method_chain, seed, config_hash"


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


#: SQLite's application_id of a torchslim store ("tslm"): another program's database is never altered.
APPLICATION_ID = 0x74736C6D


def read_only_uri(path: Path) -> str:
    """SQLite's URI for opening ``path`` read-only, its characters quoted: unquoted, a '#' or '?' in a
    folder name ends the path there (a store at 'exp#3/ts.db' was read as 'exp', and '?' dropped mode=ro)."""
    return f"file:{quote(str(path.resolve()), safe='/')}?mode=ro"


class Store:
    """The results store. ``readonly`` (``results``, ``report``) opens the file without creating or
    changing anything; a file that is not a torchslim store is refused, never converted."""

    def __init__(self, path: Path | str, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.exists() and not self.path.is_file():
            raise TorchslimError(f"results store '{self.path}' is not a file (a folder?); name a .db file")
        if readonly:
            if not self.path.is_file():
                raise TorchslimError(f"no results store at '{self.path}'; give --store PATH or run a config first")
            self._check()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            self._check()
        try:
            with closing(self._connect()) as con, con:
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA + CREATE_BENCHMARKS + CREATE_FAILURES)
        except sqlite3.Error as exc:
            raise TorchslimError(f"results store '{self.path}' cannot be written: {exc}") from None

    def _check(self) -> None:
        """Refuse a file that is not a torchslim store: its application id, or (stores written before
        the id was set) its tables, must say so."""
        try:
            with closing(sqlite3.connect(read_only_uri(self.path), uri=True, timeout=30)) as con:
                app_id = con.execute("PRAGMA application_id").fetchone()[0]
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                columns = {r[1] for r in con.execute("PRAGMA table_info(results)")} if "results" in tables else set()
        except sqlite3.Error as exc:
            raise TorchslimError(f"'{self.path}' is not a readable SQLite results store ({exc})") from None
        legacy = app_id == 0 and {"config_hash", "method_chain", "metrics"} <= columns
        if app_id != APPLICATION_ID and not legacy:
            raise TorchslimError(
                f"'{self.path}' is not a torchslim results store (application id {app_id:#x}, tables "
                f"{', '.join(sorted(tables)) or 'none'}); it was left untouched: name another --store"
            )

    @contextmanager
    def _writing(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; a full disk is one line (SQLite rolls the transaction back, so
        every row stored before is kept)."""
        try:
            with closing(self._connect()) as con, con:
                yield con
        except sqlite3.OperationalError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"disk full: the results store '{self.path}' could not record {what}; free space and run the "
                    "same command again (the rows stored before are kept; that task runs again)"
                ) from None
            raise

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            con = sqlite3.connect(read_only_uri(self.path), uri=True, timeout=30)
        else:
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
        with self._writing(f"task {' | '.join(map(str, row.key[1:]))}") as con:
            con.execute(sql, values)
            con.execute(f"DELETE FROM failures WHERE {' AND '.join(f'{c} = ?' for c in KEY_COLUMNS)}", row.key)

    def put_failure(self, key: tuple, message: str) -> None:
        """Why a task did not finish, so a report can say so; a later success removes it."""
        with self._writing("a task's failure") as con:
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
            for r in con.execute(f"SELECT * FROM results WHERE {where} ORDER BY {ROW_ORDER}", list(filters.values())):
                yield self._row(r)

    def _row(self, r: sqlite3.Row) -> ResultRow:
        """A stored row; a column whose JSON does not parse is one line naming the row."""
        values = {}
        for k in r.keys():
            try:
                values[k] = json.loads(r[k]) if k in JSON_COLUMNS else r[k]
            except (json.JSONDecodeError, TypeError):
                raise TorchslimError(
                    f"results store '{self.path}': row {r['id']} ({r['model']} | {r['dataset']} | {r['method_chain']} "
                    f"| seed {r['seed']}) holds corrupt JSON in '{k}'; delete that row or restore the store from a copy"
                ) from None
        return ResultRow(**values)

    def put_benchmark(self, target: str, config: dict, result: dict, provenance: dict) -> int:
        """Every benchmark invocation is its own observation: appended, never deduplicated."""
        with self._writing(f"the benchmark of {target}") as con:
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
