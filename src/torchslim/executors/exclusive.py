"""Where the timing phase runs: alone on one machine, after every task has finished.

A speed figure taken while other work runs beside it measures the load, not the model. Locally the
driver times the artifacts itself once the workers are gone. On a cluster one Ray task reserves
every CPU of a node (``ray_cluster.on_a_whole_node``), so the scheduler places nothing else of ours
there while it times; the artifacts travel to it, since no shared filesystem is assumed.

An exclusive runner is ``run(fn, payload, rows) -> (value, where)``: ``fn(payload, root)`` does the
timing, and finds the artifact files of ``rows`` (absolute driver paths) under ``root`` (None: the
driver's own paths; ``artifacts.relocated`` maps a row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from torchslim.store import ResultRow

Exclusive = Callable[[Callable[[Any, Path | None], Any], Any, list[ResultRow]], tuple[Any, str]]


def on_the_driver(fn: Callable[[Any, Path | None], Any], payload: Any, rows: list[ResultRow]) -> tuple[Any, str]:
    """The files are already where the rows say."""
    return fn(payload, None), "driver"
