"""Terminal output: one rich console, progress bars, and a no-op bar when output is not a TTY."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)


class _Bar:
    def __init__(self, progress: Progress | None, task):
        self._progress, self._task = progress, task

    def advance(self, stats: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, stats=stats)

    def note(self, message: str) -> None:
        console.print(f"  {escape(message)}")


@contextlib.contextmanager
def training_progress(total: int, completed: int = 0) -> Iterator[_Bar]:
    """A progress bar with loss, accuracy and images/s; silent when stderr is not a terminal."""
    if not console.is_terminal or os.environ.get("TORCHSLIM_NO_PROGRESS"):
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("train", total=total, completed=completed, stats="")
        yield _Bar(progress, task)


@contextlib.contextmanager
def step_progress(label: str, total: int | None = None) -> Iterator[_Bar]:
    """A progress bar for a loop of unknown or known length (analyses, sweeps)."""
    if not console.is_terminal or os.environ.get("TORCHSLIM_NO_PROGRESS"):
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=True,
    )
    with progress:
        yield _Bar(progress, progress.add_task(label, total=total, stats=""))


def stdout_console() -> Console:
    """Tables on stdout; wide enough when piped, so columns are not cut to 80 characters."""
    probe = Console()
    return Console(highlight=False, width=None if probe.is_terminal else 200)


@contextlib.contextmanager
def quiet_stderr():
    """Silence C++-level chatter on stderr (exporters' graph dumps, Brevitas' probing); errors are still raised."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
