"""``torchslim run CONFIG --dry-run``: the task graph, without running or reading any dataset.

For each task: what it needs first, the resources it will hold and an estimate of its training
compute (3 x MACs per image x training images x epochs: forward and backward). Dataset roots that
are missing are listed, since a real run stops at the first of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from torchslim.config import RunConfig, Sweep
from torchslim.data.base import DATASETS, DatasetConfig
from torchslim.executors.choice import ExecutorChoice
from torchslim.executors.resources import auto_workers, machine_cores, task_threads
from torchslim.models import build_model
from torchslim.preflight import declared_input
from torchslim.tasks import Task, expand
from torchslim.ui import stdout_console


@dataclass
class PlannedTask:
    task: Task
    needs: str
    threads: int
    train_macs: float | None  # None where the dataset's size is not known without reading it


def runs_of(cfg: RunConfig | Sweep) -> list[RunConfig]:
    return cfg.runs if isinstance(cfg, Sweep) else [cfg]


def macs_per_image(task: Task, cache: dict) -> int:
    """MACs of the model built for the input its dataset declares (0 when only the files can tell)."""
    key = (task.model.model_dump_json(), task.dataset.model_dump_json())
    if key not in cache:
        from torchslim.measurement.complexity import complexity

        shape = declared_input(task.dataset)
        meta = dataset_meta(task.dataset)
        if shape is None:
            cache[key] = 0
        else:
            spec = task.declared_spec(shape, meta.get("classes", 10))
            model = build_model(task.model.model_copy(update={"checkpoint": None}), spec)
            cache[key] = complexity(model, spec.shape).macs
    return cache[key]


def dataset_meta(dataset: DatasetConfig) -> dict:
    try:
        return DATASETS.get(dataset.name).meta
    except Exception:  # image folders: a prefix entry, sized only by its files
        return {}


def chain_epochs(task: Task) -> int:
    """Fine-tuning epochs a chain runs: the steps' own epoch settings (an upper bound on its compute)."""
    total = 0
    for step in task.chain.steps:
        params = step.resolved().get("params", step.resolved())
        total += sum(
            int(v)
            for k, v in params.items()
            if k in ("epochs", "finetune_epochs", "final_epochs") and isinstance(v, int)
        )
    return total


def planned(cfg: RunConfig | Sweep) -> list[PlannedTask]:
    cache: dict = {}
    out = []
    for run in runs_of(cfg):
        tasks = expand(run)
        keys = {t.key for t in tasks}
        for t in tasks:
            macs = macs_per_image(t, cache)
            images = dataset_meta(t.dataset).get("train_images")
            epochs = t.baseline_training()[0] if t.chain is None else chain_epochs(t)
            needs = t.baseline().describe() if t.chain is not None and t.baseline().key in keys else ""
            train_macs = 3.0 * macs * images * epochs if images and macs else None
            out.append(PlannedTask(t, needs, task_threads(t.threads, macs), train_macs))
    return out


def missing_roots(cfg: RunConfig | Sweep) -> list[str]:
    out = []
    for run in runs_of(cfg):
        root = run.dataset.root
        prefix, rest = DATASETS.split(run.dataset.name)
        folder = Path(rest) if prefix == "imagefolder" else root
        if folder is not None and not Path(folder).is_dir() and str(folder) not in out:
            out.append(str(folder))
    return out


def print_plan(cfg: RunConfig | Sweep, source: str, choice: ExecutorChoice) -> None:
    rows = planned(cfg)
    out = stdout_console()
    table = Table(title=f"task graph of {source}", title_justify="left")
    for col in ("#", "run", "task", "needs", "resources", "train compute"):
        table.add_column(col, justify="right" if col in ("#", "train compute") else "left")
    index = {r.task.describe() + r.task.run_name: i + 1 for i, r in enumerate(rows)}
    for i, r in enumerate(rows, 1):
        need = index.get(r.needs + r.task.run_name)
        table.add_row(
            str(i),
            escape(r.task.run_name),
            escape(r.task.describe()),
            f"#{need}" if need else "-",
            f"{r.threads} CPU" + (f", {gpus(r.task)} GPU" if gpus(r.task) else ""),
            "?" if r.train_macs is None else f"{r.train_macs / 1e12:,.1f} TMAC",
        )
    out.print(table)
    known = [r.train_macs for r in rows if r.train_macs is not None]
    chains = sum(r.task.chain is not None for r in rows)
    threads = max(r.threads for r in rows)
    where = (
        f"Ray cluster at {choice.address or 'a private one on this machine'}"
        if choice.kind == "ray"
        else f"{choice.workers if choice.workers != 'auto' else auto_workers(threads, len(rows) - chains, 0)} "
        f"worker(s) on this machine ({machine_cores()} cores; auto sizes for memory once the data is read)"
    )
    out.print(
        f"{len(rows)} tasks ({len(rows) - chains} baselines, {chains} chains, "
        f"{sum(bool(r.needs) for r in rows)} dependencies); training compute about {sum(known) / 1e15:,.2f} PMAC"
        + (f" for {len(known)} of them (the rest read sizes from their files)" if len(known) < len(rows) else "")
        + f"; would run on {where}"
    )
    for root in missing_roots(cfg):
        out.print(
            f"dataset root '{escape(str(root))}' is missing: a real run stops there "
            "(name it with dataset.root= or roots.)"
        )


def gpus(task: Task) -> int:
    device = getattr(task.train, "device", "cpu")
    return 1 if str(device).startswith("cuda") else 0
