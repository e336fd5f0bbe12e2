"""Image generation: a generator trained adversarially, compressed by the registered methods (fine-tuned
by distilling from the original), scored by FID in a named classifier's feature space (↓).

Its recipe is ``config.generate.GenerateRunConfig`` (``task: generate``): the classification recipe's
shape (models x seeds x method chains, the same runner, executors and store) with ``gan:`` and
``generation:`` sections.
"""

from __future__ import annotations

from torchslim.config.generate import GenerateRunConfig
from torchslim.executors.choice import ExecutorChoice
from torchslim.metric import Metric
from torchslim.plan import print_plan
from torchslim.preflight import check_declared_pairings
from torchslim.report.build import write_report
from torchslim.report.generation import generation_document
from torchslim.results import rows_table
from torchslim.runner import run as run_recipe
from torchslim.task_kinds.base import TaskKind, register_task_kind
from torchslim.tasks import expand
from torchslim.ui import stdout_console

FID = Metric("fid", "FID (classifier features)", higher_is_better=False)


def run(cfg: GenerateRunConfig, source: str, force: bool, choice: ExecutorChoice) -> list:
    rows = run_recipe(cfg, source=source, force=force, executor=choice, report_builder=generation_document)
    stdout_console().print(rows_table(rows))
    return rows


def check(cfg: GenerateRunConfig) -> str:
    tasks = expand(cfg)
    check_declared_pairings(tasks)
    return f"# valid: {len(tasks)} task(s)"


def report(cfg: GenerateRunConfig, store, source: str, formats, console) -> dict:
    return write_report(cfg, store, source, formats, console, builder=generation_document)


GENERATE = register_task_kind(
    TaskKind(
        name="generate",
        schema=GenerateRunConfig,
        metric=FID,
        run=run,
        plan=print_plan,
        report=report,
        check=check,
        summary="image generation (DCGAN): generators compressed and distilled, FID in a classifier's feature space",
    )
)
