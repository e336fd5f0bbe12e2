"""Detection: a YOLO detector trained, pruned at several levels by the registered methods and fine-tuned with
Ultralytics' trainer, mAP50-95 on val (↑); seed 003's tables.

Its recipe is ``config.detect.DetectRunConfig`` (``task: detect``). It expands into the runner's tasks: the
trained baseline, the fair reference (``finetune``: the baseline fine-tuned as long as every level) and one
``prune.structured`` chain per level. They run through the runner's task graph, executors and store like
every kind's; the checkpoints are then timed side by side at each image size (``latency_comparison``) and
the report is ``report.detection``. Ultralytics is imported only when a task runs (``yolo.work``), never to
load, check or plan a recipe.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from torchslim.config import to_yaml
from torchslim.config.detect import DetectRunConfig
from torchslim.data.base import DatasetConfig
from torchslim.errors import TorchslimError
from torchslim.executors.choice import ExecutorChoice, exclusive_for
from torchslim.export.checkpoint import file_sha256
from torchslim.kinds import WorkerFacts
from torchslim.latency_comparison import compare_run
from torchslim.methods.chain import Chain
from torchslim.models.base import ModelConfig
from torchslim.owned_folders import run_folder
from torchslim.report.detection import write_detect_report
from torchslim.runner import run_tasks
from torchslim.store import ResultRow, Store
from torchslim.task_execution import task_row
from torchslim.task_kinds.base import TaskKind, register_task_kind
from torchslim.tasks import Task
from torchslim.train.config import TrainConfig
from torchslim.ui import console, stdout_console
from torchslim.yaml_input import comment_safe
from torchslim.yolo.prune import MAP50_95
from torchslim.yolo.work import data_inputs, detection_data, detector_spec, run_detection


def level_chain(cfg: DetectRunConfig, level: float) -> Chain:
    """One level: that fraction of the channels of every prunable group removed in ``prune.steps`` steps
    (L2 group importance, widths rounded to the nearest ``round_to``), each step fine-tuned its share."""
    p = cfg.prune
    params = {
        "ratio": level,
        "steps": p.steps,
        "finetune_epochs": p.finetune_epochs // p.steps,
        "importance": "l2",
        "depthwise": "all",
    } | ({"round_to": p.round_to} if p.round_to else {})
    return Chain.parse({"prune.structured": params})


def chains(cfg: DetectRunConfig) -> list[Chain]:
    """The fair reference (the baseline fine-tuned as long as each level), then every level."""
    reference = Chain.parse({"finetune": {"epochs": cfg.prune.finetune_epochs}})
    return [reference] + [level_chain(cfg, level) for level in cfg.prune.levels]


def expand_detect(cfg: DetectRunConfig, source: str = "") -> list[Task]:
    """The baseline first (every chain starts from it), then the reference and each level."""
    m = cfg.measure
    sections = {
        "data": cfg.data,
        "synthetic": cfg.synthetic,
        "train": cfg.train,
        "measure": m.model_copy(update={"threads": m.threads or cfg.threads}),
        "threads": cfg.threads,
    }
    settings = {"task": "detect", "train": json.loads(cfg.train.model_dump_json())} | (
        {"synthetic": json.loads(cfg.synthetic.model_dump_json())} if cfg.data == "synthetic" else {}
    )
    dataset = DatasetConfig(name="synthetic-detection" if cfg.data == "synthetic" else cfg.data, augment=False)
    base = Task(
        cfg.name,
        ModelConfig(name=cfg.model, checkpoint=cfg.checkpoint),
        dataset,
        TrainConfig(epochs=cfg.train.epochs, batch_size=cfg.train.batch, threads=cfg.threads),
        cfg.seed,
        cfg.run_dir,
        measure=sections["measure"],
        source=source,
        inputs=data_inputs(cfg.data) + checkpoint_input(cfg),
        kind="detect",
        settings=json.dumps(settings, sort_keys=True),
        kind_config=sections,
    )
    tuning = TrainConfig(epochs=cfg.prune.finetune_epochs, batch_size=cfg.train.batch, threads=cfg.threads)
    return [base] + [replace(base, chain=c, finetune=tuning) for c in chains(cfg)]


def checkpoint_input(cfg: DetectRunConfig) -> tuple[tuple[str, str], ...]:
    """The starting detector by its content (not its path)."""
    if cfg.checkpoint is None:
        return ()
    if not Path(cfg.checkpoint).is_file():
        raise TorchslimError(f"checkpoint: {cfg.checkpoint} is not a file (a torchslim detector artifact)")
    return (("checkpoint_sha256", file_sha256(Path(cfg.checkpoint))),)


def detection_task(task: Task, data, folder: Path, baseline_file: Path | None, threads: int) -> ResultRow:
    metrics, artifact = run_detection(task, data, folder, baseline_file, threads)
    return task_row(task, metrics, artifact, "the data's val split")


def detection_preflight(task: Task, cache) -> int:
    """The data.yaml is written (synthetic) or checked before any task trains; MACs are counted by the task."""
    detection_data(task, cache)
    return 0


def run(cfg: DetectRunConfig, source: str, force: bool, choice: ExecutorChoice) -> list:
    """Every task not yet in the store, through the runner; then the side-by-side latency and the report."""
    run_folder(cfg.run_dir)
    (cfg.run_dir / "config.resolved.yaml").write_text(
        f"# torchslim run {comment_safe(source or '<config>')}\n" + to_yaml(cfg)
    )
    tasks = expand_detect(cfg, source)
    store = run_tasks(cfg, tasks, force, executor=choice)
    compare_run(cfg, tasks, store, exclusive_for(choice))
    rows = stored_rows(cfg, source, store, tasks)
    for path in write_detect_report(cfg, rows, store, source).values():
        console.print(f"report: {escape(str(path))}")
    return rows


def stored_rows(cfg: DetectRunConfig, source: str, store: Store, tasks: list[Task] | None = None) -> list[ResultRow]:
    """The rows of every task of ``cfg`` (for the report); a task not yet stored is named."""
    tasks = tasks or expand_detect(cfg, source)
    missing = [t.method_chain for t in tasks if not store.has(t.key)]
    if missing:
        raise TorchslimError(
            f"{cfg.run_dir}: tasks not in the store yet: {', '.join(missing)}; finish them with torchslim run"
        )
    return [store.get(t.key) for t in tasks]


def plan(cfg: DetectRunConfig, source: str, choice: ExecutorChoice) -> None:
    """The task graph of ``--dry-run``: nothing is trained and no data is written; Ultralytics is not imported."""
    out = stdout_console()
    table = Table(title=f"task graph of {source}", title_justify="left")
    for col in ("#", "task", "needs", "epochs"):
        table.add_column(col, justify="right" if col in ("#", "epochs") else "left")
    data = "synthetic" if cfg.data == "synthetic" else cfg.data
    every = chains(cfg)
    labels = ["baseline", every[0].label] + [f"prune.structured(ratio={level:g})" for level in cfg.prune.levels]
    for i, chain in enumerate(labels, 1):
        epochs = cfg.train.epochs if i == 1 else cfg.prune.finetune_epochs
        table.add_row(str(i), escape(chain), "-" if i == 1 else "#1", str(epochs))
    out.print(table)
    p, m = cfg.prune, cfg.measure
    shared = {k: v for k, v in every[1].steps[0].params.items() if k != "ratio"}
    workers = choice.workers if choice.workers != "auto" else 1
    out.print(
        f"run {escape(cfg.name)}: {escape(cfg.model)} on {escape(data)}, seed {cfg.seed}. {len(labels)} tasks (1 "
        f"baseline, the fine-tuned reference and {len(p.levels)} pruning level(s), each needing the baseline); every "
        f"level: prune.structured with {', '.join(f'{k}={v}' for k, v in shared.items())}; would run on {workers} "
        f"worker(s) on this machine, then time {len(m.runtimes)} runtime(s) side by side at image sizes "
        f"{', '.join(map(str, m.imgsz))} and batch sizes {', '.join(map(str, m.batch_sizes))}"
    )
    if cfg.data != "synthetic" and not Path(cfg.data).is_file():
        out.print(f"data '{escape(cfg.data)}' is missing: a real run stops there (give a YOLO data.yaml)")


def report(cfg: DetectRunConfig, store, source: str, formats, console) -> dict:
    return write_detect_report(cfg, stored_rows(cfg, source, store), store, source, formats, console)


def check(cfg: DetectRunConfig) -> str:
    return f"# valid: {len(chains(cfg)) + 1} task(s) (baseline, fine-tuned reference, each level)"


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
        worker=WorkerFacts(
            work=detection_task,
            input_spec=lambda task, data: detector_spec(task, data),
            declared_spec=lambda task, image_shape, classes: detector_spec(task),
            output_shape=lambda task, spec, image_shape, declared: None,
            baseline_training=lambda task: (task.train.epochs, task.train.batch_size, "train"),
            data=detection_data,
            preflight=detection_preflight,
            timed_alone=False,
        ),
    )
)
