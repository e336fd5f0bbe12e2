"""Runs a recipe: setup -> train -> evaluate -> save -> record, one task at a time.

Finished tasks are in the store and are skipped (unless forced); an unfinished task resumes from
its last epoch checkpoint. The report is regenerated from the store at the end.
"""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import yaml
from rich.markup import escape
from torch import nn

from torchslim.artifacts import StoredArtifact, stored_artifact
from torchslim.backends.brevitas import is_brevitas
from torchslim.config import RunConfig, to_yaml
from torchslim.data import DATASETS, BatchLoader, DataBundle, DatasetConfig, build_dataset
from torchslim.errors import Interrupted, TorchslimError
from torchslim.export.checkpoint import read_checkpoint, save_model
from torchslim.export.deployed import OnnxModel
from torchslim.export.onnx import ExportedOnnx, export_onnx
from torchslim.latency_comparison import compare_run, load_artifact
from torchslim.measure.accuracy import evaluate
from torchslim.measure.bench import BenchConfig, measure
from torchslim.methods import MethodContext, apply_chain
from torchslim.models import InputSpec, build_model, describe, load_model
from torchslim.provenance import provenance
from torchslim.report.build import write_report
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task, expand
from torchslim.train import fit
from torchslim.train.determinism import configure
from torchslim.ui import console


@dataclass
class TaskContext:
    """Per-executor caches: read-only data shared by tasks on the same dataset."""

    data: dict[str, DataBundle] = field(default_factory=dict)

    def dataset(self, cfg: DatasetConfig) -> DataBundle:
        key = cfg.model_dump_json()
        if key not in self.data:
            self.data[key] = build_dataset(cfg)
        return self.data[key]


def input_spec(data: DataBundle) -> InputSpec:
    """What a model is built for on ``data``: its class count, channels and image size."""
    return InputSpec(data.info.num_classes, data.info.in_channels, data.info.image_size)


def run_task(task: Task, ctx: TaskContext, force: bool = False, baseline_file: Path | None = None) -> ResultRow:
    """Train a baseline, or apply a method chain to its trained baseline; then measure and describe.

    ``baseline_file`` is the trained baseline's artifact for a chain task (it may live in another
    run's folder when that run trained the identical baseline first).
    """
    folder = task.folder
    if force and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(
        f"# {task.describe()}\n" + yaml.safe_dump(task.payload() | {"seed": task.seed}, sort_keys=False)
    )
    threads = configure(task.seed, task.train.deterministic, task.train.threads)
    data = ctx.dataset(task.dataset)
    spec = input_spec(data)
    if task.chain is None:
        model = build_model(task.model, spec)
        result = fit(model, data, task.train, task.seed, checkpoint=folder / "checkpoint.pt")
        accuracy, metrics = (
            result.accuracy,
            {
                "epochs": task.train.epochs,
                "train_seconds": result.train_seconds,
                "train_images_per_second": result.images_per_second,
                "resumed_from_epoch": result.resumed_from_epoch,
                "history": result.history,
            },
        )
    else:
        model, accuracy, metrics = compress(task, data, spec, baseline_file or task.baseline().folder / "model.pt")
    model.eval()
    artifact, exported = save_artifact(model, folder, describe(task.model, spec), spec, export=wants_onnx(task))
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    metrics |= {
        "top1": accuracy.top1,
        "top5": accuracy.top5,
        "loss": accuracy.loss,
        "eval_split": data.info.eval_split,
        "eval_images": accuracy.n,
        "threads": threads,
    }
    if data.info.skipped_images:
        metrics["skipped_images"] = data.info.skipped_images
    metrics |= measure_task(model, spec, artifact, exported, task)
    metrics |= exported_accuracy(model, data, artifact, task)
    return ResultRow(
        config_hash=task.config_hash,
        run_name=task.run_name,
        model=task.model.label,
        dataset=task.dataset.name,
        method_chain=task.method_chain,
        seed=task.seed,
        metrics=metrics,
        artifacts=artifact.record(task="task.yaml"),
        config=task.payload() | {"seed": task.seed, "source": task.source, "split": data.info.split_note},
        **provenance(),
    )


def compress(task: Task, data: DataBundle, spec: InputSpec, base_file: Path):
    """Load the trained baseline of the same model and seed, apply the chain, evaluate."""
    if not base_file.exists():
        raise TorchslimError(
            f"the baseline of '{task.describe()}' has no model file at {base_file}; "
            "rerun with --force to train it again"
        )
    model, _ = load_model(base_file)
    t0 = time.perf_counter()
    mctx = MethodContext(data, spec, task.finetune, task.seed, task.folder)
    mctx.original = copy.deepcopy(model).eval()
    model = apply_chain(model, task.chain, mctx)
    accuracy = evaluate(model, BatchLoader(data.eval, data.info, task.train.eval_batch_size))
    notes = {k: v for k, v in mctx.notes.items() if k not in ("step", "_t0")}
    return (
        model,
        accuracy,
        {"epochs": task.train.epochs, "compress_seconds": time.perf_counter() - t0, "method_notes": notes},
    )


def exported_accuracy(model, data: DataBundle, artifact: StoredArtifact, task: Task) -> dict:
    """Low-bit (Brevitas) models are also evaluated as their exported QCDQ ONNX file, which is what ships."""
    if artifact.kind != "brevitas" or artifact.onnx_path is None:
        return {}
    acc = evaluate(
        OnnxModel(artifact.onnx_path, model, "qcdq"), BatchLoader(data.eval, data.info, task.train.eval_batch_size)
    )
    return {"onnx_top1": acc.top1}


def wants_onnx(task: Task) -> bool:
    """A task exports ONNX when ONNX Runtime is timed (a Brevitas model always: its QCDQ file ships)."""
    m = task.measure
    return bool(m is None or (m.latency and "onnxruntime" in m.runtimes))


def save_artifact(
    model: nn.Module, folder: Path, description: dict, spec: InputSpec, export: bool
) -> tuple[StoredArtifact, ExportedOnnx | None]:
    """model.onnx for a deployed ONNX Runtime artifact; else model.pt (tensors + plain-data architecture)
    and, when asked or for a Brevitas model, its ONNX export as model.onnx (returned for measuring)."""
    if isinstance(model, OnnxModel):
        model.copy_to(folder / "model.onnx")
        return StoredArtifact("onnx", folder, None, "model.onnx"), None
    save_model(model, folder / "model.pt", description)
    brevitas = is_brevitas(model)
    if not (export or brevitas):
        return StoredArtifact("torchslim", folder, "model.pt", None), None
    exported = ExportedOnnx(
        folder / "model.onnx", export_onnx(model, torch.zeros(1, *spec.shape), folder / "model.onnx")
    )
    return StoredArtifact("brevitas" if brevitas else "torchslim", folder, "model.pt", "model.onnx"), exported


def measure_task(
    model: nn.Module, spec: InputSpec, artifact: StoredArtifact, exported: ExportedOnnx | None, task: Task
) -> dict:
    """Params, MACs and artifact size always; latency per runtime when the recipe asks for it."""
    m = task.measure
    cfg = BenchConfig(
        batch_sizes=m.batch_sizes,
        runtimes=m.runtimes if m.latency else [],
        threads=m.threads,
        min_seconds=m.min_seconds,
        min_runs=5,
    )
    result = measure(model, cfg, spec=spec, artifact=artifact.model_path or artifact.onnx_path, onnx=exported)
    record = result.as_dict()
    return {
        "params": record["complexity"]["params"],
        "nonzero_params": record["complexity"]["nonzero_params"],
        "macs": record["complexity"]["macs"],
        "file_bytes": record["size"]["bytes"],
        "file_gzip_bytes": record["size"]["gzip_bytes"],
        "onnx_bytes": record["onnx_size"]["bytes"] if record["onnx_size"] else None,
        "parity": record["parity"],
        "latency": record["latency"],
        "peak_gflops": record["peak_gflops"],
    }


def missing_latency(row: ResultRow, m) -> set[tuple[str, int]]:
    """The (runtime, batch size) pairs a recipe's ``measure`` asks for that a stored row was not timed at."""
    if m is None or not m.latency:
        return set()
    deployed = stored_artifact(row).kind == "onnx"  # an ONNX Runtime file has no PyTorch latency
    have = {(x["runtime"], x["batch_size"]) for x in row.metrics.get("latency", [])}
    return {(r, b) for r in m.runtimes if not (deployed and r == "torch") for b in m.batch_sizes} - have


def complete_measurements(task: Task, store: Store, ctx: TaskContext) -> None:
    """A finished task whose recipe now asks for more batch sizes or runtimes is timed for those
    alone, from its saved artifact: nothing is retrained, and nothing asked for stays silently unmeasured."""
    row = store.get(task.key)
    gaps = missing_latency(row, task.measure)
    artifact = stored_artifact(row)
    if not gaps or artifact.missing_file() is not None:
        return
    m = task.measure
    cfg = BenchConfig(
        batch_sizes=sorted({b for _, b in gaps}),
        runtimes=[r for r in m.runtimes if any(g[0] == r for g in gaps)],
        threads=m.threads,
        min_seconds=m.min_seconds,
        min_runs=5,
    )
    spec = input_spec(ctx.dataset(task.dataset))
    result = measure(load_artifact(row), cfg, spec=spec, artifact=artifact.model_path or artifact.onnx_path)
    added = [x for x in result.as_dict()["latency"] if (x["runtime"], x["batch_size"]) in gaps]
    store.put(replace(row, metrics=row.metrics | {"latency": row.metrics.get("latency", []) + added}))
    pairs = ", ".join(f"{x['runtime']} b{x['batch_size']}" for x in added)
    console.print(f"[bold]measure[/bold] {escape(task.describe())}: added {pairs} (not retrained)")


def preflight(tasks: list[Task], ctx: TaskContext) -> None:
    """Load data, read checkpoints and pass one batch through each model before any task starts:
    bad input fails fast and costs nothing."""
    checked: set[tuple[str, str]] = set()
    for task in tasks:
        data = ctx.dataset(task.dataset)
        if task.model.checkpoint is not None:
            read_checkpoint(task.model.checkpoint)
        if task.chain is None and task.train.epochs > 0 and len(data.train) < task.train.batch_size:
            raise TorchslimError(
                f"train.batch_size {task.train.batch_size} is larger than the training split of "
                f"'{task.dataset.name}' ({len(data.train)} images): not one step would be trained; lower it"
            )
        pair = (task.model.model_dump_json(), task.dataset.model_dump_json())
        if pair not in checked:
            checked.add(pair)
            check_pairing(task, input_spec(data))


def declared_input(dataset: DatasetConfig) -> tuple[int, int, int] | None:
    """The image shape a dataset declares without reading it (None where only its files can tell)."""
    if dataset.name == "synthetic":
        return tuple(dataset.shape)
    if DATASETS.split(dataset.name)[0] == "imagefolder":
        return (3, dataset.image_size, dataset.image_size) if dataset.image_size else None
    return tuple(DATASETS.get(dataset.name).meta["input_shape"])


def check_declared_pairings(tasks: list[Task]) -> None:
    """``torchslim validate``: each model takes one image of the shape its dataset declares (no data read)."""
    seen: set[str] = set()
    for task in tasks:
        shape = declared_input(task.dataset)
        if shape is None or task.model.label in seen:
            continue
        seen.add(task.model.label)
        check_pairing(task, InputSpec(10, shape[0], shape[-1]), classes=False)


def check_pairing(task: Task, spec: InputSpec, classes: bool = True) -> None:
    """The model, built for the dataset's input, takes one image and gives one score per class."""
    model = build_model(task.model.model_copy(update={"checkpoint": None}), spec).eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.shape))
    except (RuntimeError, ValueError, IndexError, AssertionError) as exc:
        raise TorchslimError(
            f"model '{task.model.label}' cannot take the {'x'.join(map(str, spec.shape))} images of dataset "
            f"'{task.dataset.name}': {str(exc).strip().splitlines()[0][:160]}"
        ) from None
    if classes and tuple(out.shape) != (1, spec.num_classes):
        raise TorchslimError(
            f"model '{task.model.label}' gives outputs of shape {tuple(out.shape)} on dataset '{task.dataset.name}'"
            f", not one score for each of its {spec.num_classes} classes"
        )


class InProcessExecutor:
    """Runs tasks one after another in this process; the seam for a pool or cluster later."""

    def map(self, fn: Callable[[Task], ResultRow], tasks: list[Task]):
        for task in tasks:
            yield task, fn(task)


def _execute(task: Task, store: Store, ctx: TaskContext, force: bool) -> ResultRow:
    console.print(f"[bold]run[/bold]   {escape(task.describe())}")
    t0 = time.perf_counter()
    base = store.get(task.baseline().key) if task.chain is not None else None
    base_file = stored_artifact(base).model_path if base else None
    try:
        row = run_task(task, ctx, force, base_file)
    except Exception as exc:  # recorded for the report, then raised as before
        store.put_failure(task.key, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
        raise
    store.put(row)
    console.print(
        f"      {row.metrics['eval_split']} top-1 {row.metrics['top1']:.2f}%  ({time.perf_counter() - t0:.0f} s)"
    )
    return row


def run_tasks(cfg: RunConfig, tasks: list[Task], force: bool = False, ctx: TaskContext | None = None) -> Store:
    """Run the tasks not yet in the store (all of them with ``force``); returns the store."""
    store = Store(cfg.store)
    todo = [t for t in tasks if force or not store.has(t.key)]
    for t in tasks:
        if t not in todo:
            console.print(f"[dim]skip[/dim]  {escape(t.describe())}  (already in {cfg.store}; --force reruns)")
    ctx = ctx or TaskContext()
    for t in tasks:
        if t not in todo:
            complete_measurements(t, store, ctx)
    if todo:
        preflight(todo, ctx)
    done = 0
    try:
        for _ in InProcessExecutor().map(lambda t: _execute(t, store, ctx, force), todo):
            done += 1
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: {done} of {len(todo)} tasks finished this time and are in {cfg.store} "
            f"({len(tasks) - len(todo) + done} of {len(tasks)} in all); the task in progress resumes from its "
            "last epoch checkpoint: rerun the same command"
        ) from None
    return store


def run(
    cfg: RunConfig, source: str = "", force: bool = False, formats: tuple[str, ...] = ("md", "html", "terminal")
) -> list[ResultRow]:
    """Run every task of ``cfg`` not yet in the store, then write the report. Returns all its rows."""
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.resolved.yaml").write_text(f"# torchslim run {source or '<config>'}\n" + to_yaml(cfg))
    tasks = expand(cfg, source)
    store = run_tasks(cfg, tasks, force)
    compare_run(cfg, tasks, store)
    written = write_report(cfg, store, source, formats, console, charts_only=True, tasks=tasks)
    for path in written.values():
        console.print(f"report: {path}")
    return [r for t in tasks if (r := store.get(t.key)) is not None]
