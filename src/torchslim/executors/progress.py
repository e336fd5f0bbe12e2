"""The live task board: each task queued, running (where), done or failed, with elapsed time and an
ETA. Drawn only on a terminal; elsewhere each start and finish is one plain log line."""

from __future__ import annotations

import os
import time
from typing import Hashable

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from torchslim.ui import console

SHOWN = 24  # rows of the board; beyond it, the running and failed tasks first, then counts


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TaskBoard:
    def __init__(self, labels: dict[Hashable, str], parallel: int):
        self.labels = labels
        self.state: dict[Hashable, str] = {k: "queued" for k in labels}
        self.where: dict[Hashable, str] = {}
        self.started: dict[Hashable, float] = {}
        self.took: dict[Hashable, float] = {}
        self.note: dict[Hashable, str] = {}
        self.parallel = max(parallel, 1)
        self.t0 = time.perf_counter()
        self.live: Live | None = None

    def __enter__(self) -> "TaskBoard":
        if console.is_terminal and not os.environ.get("TORCHSLIM_NO_PROGRESS"):
            self.live = Live(self.render(), console=console, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def start(self, key: Hashable, where: str) -> None:
        self.state[key], self.where[key] = "running", where
        self.started.setdefault(key, time.perf_counter())
        console.print(f"[bold]run[/bold]   {escape(self.labels[key])}" + (f"  [dim]({where})[/dim]" if where else ""))
        self.refresh()

    def finish(self, key: Hashable, ok: bool, note: str) -> None:
        self.state[key] = "done" if ok else "failed"
        self.took[key] = time.perf_counter() - self.started.get(key, time.perf_counter())
        self.note[key] = note
        console.print(f"      {escape(self.labels[key])}: {escape(note)}  ({self.took[key]:.0f} s)")
        self.refresh()

    def eta(self) -> float | None:
        """Remaining tasks x the mean time of a finished one, shared among the parallel slots."""
        done = [t for k, t in self.took.items() if self.state[k] == "done"]
        left = sum(s in ("queued", "running") for s in self.state.values())
        if not done or not left:
            return None
        return left * (sum(done) / len(done)) / min(self.parallel, left)

    def summary(self) -> str:
        counts = {s: sum(v == s for v in self.state.values()) for s in ("done", "running", "queued", "failed")}
        eta = self.eta()
        return (
            f"{counts['done']}/{len(self.state)} done · {counts['running']} running · {counts['queued']} queued"
            + (f" · {counts['failed']} failed" if counts["failed"] else "")
            + f" · elapsed {_clock(time.perf_counter() - self.t0)}"
            + (f" · ETA {_clock(eta)}" if eta is not None else "")
        )

    def render(self) -> Table:
        table = Table(title=self.summary(), title_justify="left", show_edge=False, pad_edge=False)
        for col in ("task", "state", "where", "time", ""):
            table.add_column(col)
        order = {"running": 0, "failed": 1, "queued": 2, "done": 3}
        now = time.perf_counter()
        for key in sorted(self.state, key=lambda k: order[self.state[k]])[:SHOWN]:
            s = self.state[key]
            secs = self.took.get(key, now - self.started[key] if key in self.started else None)
            style = {"running": "bold", "failed": "red", "done": "green", "queued": "dim"}[s]
            table.add_row(
                escape(self.labels[key]),
                f"[{style}]{s}[/{style}]",
                self.where.get(key, ""),
                "" if secs is None else _clock(secs),
                escape(self.note.get(key, "")),
            )
        return table

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())
