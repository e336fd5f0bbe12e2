"""Classification: one model x dataset x method chain x seed per task, top-1 on the evaluation split (↑).

Its recipe is ``config.RunConfig`` (or a sweep of them); it runs through ``runner`` on any executor
and reports through ``report.build``.
"""

from __future__ import annotations

from typing import Any

from torchslim.config import RunConfig, Sweep, validate_config
from torchslim.executors.choice import ExecutorChoice
from torchslim.metric import TOP1
from torchslim.plan import print_plan
from torchslim.preflight import check_declared_pairings
from torchslim.report.build import write_report
from torchslim.results import rows_table
from torchslim.runner import run as run_recipe
from torchslim.task_kinds.base import TaskKind, register_task_kind
from torchslim.tasks import expand
from torchslim.ui import stdout_console


def load(raw: dict[str, Any], source: str) -> RunConfig | Sweep:
    """``task: classify`` is the default and may be left out; the schema does not carry it."""
    return validate_config({k: v for k, v in raw.items() if k != "task"}, source)


def run(cfg: RunConfig | Sweep, source: str, force: bool, choice: ExecutorChoice) -> list:
    rows = run_recipe(cfg, source=source, force=force, executor=choice)
    stdout_console().print(rows_table(rows))
    return rows


def check(cfg: RunConfig | Sweep) -> str:
    if isinstance(cfg, Sweep):
        tasks = [t for run_cfg in cfg.runs for t in expand(run_cfg)]
        check_declared_pairings(tasks)
        return f"# valid: sweep '{cfg.name}', {len(cfg.runs)} run(s), {len(tasks)} task(s)"
    tasks = expand(cfg)
    check_declared_pairings(tasks)
    return f"# valid: {len(tasks)} task(s)"


def report(cfg: RunConfig, store, source: str, formats, console) -> dict:
    return write_report(cfg, store, source, formats, console)


CLASSIFY = register_task_kind(
    TaskKind(
        name="classify",
        schema=RunConfig,
        metric=TOP1,
        run=run,
        plan=print_plan,
        report=report,
        check=check,
        load=load,
        searchable=True,
        summary="image classification: every model x dataset x method chain x seed, top-1 on the evaluation split",
    )
)
