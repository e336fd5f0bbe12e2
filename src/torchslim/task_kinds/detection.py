"""Detection: a YOLO detector trained, pruned at several levels and fine-tuned, mAP50-95 on val (↑).

Its recipe is ``config.detect.DetectRunConfig`` (``task: detect``); the stages run through
``yolo.pipeline`` and report seed 003's tables through ``yolo.report``. Ultralytics is imported only
when a stage runs (``yolo.engine``), never to load, check or plan a recipe.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from torchslim.config.detect import DetectRunConfig
from torchslim.executors.choice import ExecutorChoice
from torchslim.metric import Metric
from torchslim.task_kinds.base import TaskKind, register_task_kind
from torchslim.ui import stdout_console
from torchslim.yolo.pipeline import chain_name, run_detect, stored_rows
from torchslim.yolo.report import write_detect_report

MAP50_95 = Metric("map50_95", "mAP50-95", higher_is_better=True)


def stage_names(cfg: DetectRunConfig) -> list[str]:
    """The run's stages in order: the trained baseline, its fine-tuned reference, each pruning level."""
    return ["baseline", "finetune"] + [chain_name(level) for level in cfg.prune.levels]


def run(cfg: DetectRunConfig, source: str, force: bool, choice: ExecutorChoice) -> list:
    return run_detect(cfg, source=source, force=force, workers=choice.workers if choice.workers != "auto" else 1)


def plan(cfg: DetectRunConfig, source: str, choice: ExecutorChoice) -> None:
    """The stage graph of ``--dry-run``: nothing is trained and no data is written or read."""
    out = stdout_console()
    table = Table(title=f"task graph of {source}", title_justify="left")
    for col in ("#", "run", "task", "needs", "epochs"):
        table.add_column(col, justify="right" if col in ("#", "epochs") else "left")
    data = "synthetic" if cfg.data == "synthetic" else cfg.data
    p = cfg.prune
    for i, stage in enumerate(stage_names(cfg), 1):
        epochs = cfg.train.epochs if stage == "baseline" else p.finetune_epochs
        label = f"{cfg.model} | {data} | {stage} | seed {cfg.seed}"
        table.add_row(str(i), escape(cfg.name), escape(label), "-" if i == 1 else "#1", str(epochs))
    out.print(table)
    workers = choice.workers if choice.workers != "auto" else 1
    out.print(
        f"{len(p.levels) + 2} tasks (1 baseline, the fine-tuned reference and {len(p.levels)} pruning level(s), each "
        f"needing the baseline; {p.steps} prune + fine-tune step(s) per level); would run on {workers} worker(s) on "
        f"this machine, then time {len(cfg.measure.runtimes)} runtime(s) at image sizes "
        f"{', '.join(map(str, cfg.measure.imgsz))} and batch sizes {', '.join(map(str, cfg.measure.batch_sizes))}"
    )
    if cfg.data != "synthetic":
        if not Path(cfg.data).is_file():
            out.print(f"data '{escape(cfg.data)}' is missing: a real run stops there (give a YOLO data.yaml)")


def report(cfg: DetectRunConfig, store, source: str, formats, console) -> dict:
    return write_detect_report(cfg, stored_rows(cfg, source, store), store, source, formats, console)


def check(cfg: DetectRunConfig) -> str:
    return f"# valid: {len(stage_names(cfg))} stage(s) (baseline, fine-tuned reference, each level)"


DETECT = register_task_kind(
    TaskKind(
        name="detect",
        schema=DetectRunConfig,
        metric=MAP50_95,
        run=run,
        plan=plan,
        report=report,
        check=check,
        summary="object detection (YOLO): pruning levels with fine-tuning, mAP50-95 on val and speed (seed 003)",
    )
)
