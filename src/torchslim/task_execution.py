"""One task, wherever an executor runs it: train a baseline or apply a chain to its trained baseline,
then save, describe and measure the result (nothing timed: that is the measurement phase's).

A worker is sent a :class:`TaskWorker`; what it decodes stays in its own process's cache across its
tasks, and a task writes only inside its own folder.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from rich.markup import escape
from torch import nn

from torchslim.artifacts import StoredArtifact
from torchslim.data import BatchLoader, DataBundle
from torchslim.data.cache import DatasetCache
from torchslim.device import deterministic_cuda, placed
from torchslim.device import resolve as resolve_placement
from torchslim.errors import TorchslimError
from torchslim.executors import Order
from torchslim.export.onnx import ExportedOnnx
from torchslim.export.saving import save_artifact
from torchslim.measurement.accuracy import evaluate
from torchslim.measurement.bench import BenchConfig, measure
from torchslim.measurement.deployed_accuracy import accuracy_per_deployment
from torchslim.methods import MethodContext, apply_chain
from torchslim.models import InputSpec, build_model, describe, load_model
from torchslim.provenance import provenance
from torchslim.runtimes import needs_onnx
from torchslim.runtimes.deployed import OnnxModel
from torchslim.store import ResultRow
from torchslim.tasks import Task
from torchslim.train import fit
from torchslim.train.determinism import configure
from torchslim.ui import console
from torchslim.yaml_input import comment_safe


def run_task(
    task: Task,
    ctx: DatasetCache,
    force: bool = False,
    baseline_file: Path | None = None,
    threads: int | None = None,
) -> ResultRow:
    """Train a baseline, or apply a method chain to its trained baseline; then measure and describe.

    ``baseline_file`` is the trained baseline's artifact for a chain task (it may live in another
    run's folder when that run trained the identical baseline first). ``threads`` is the task's
    intra-op thread count (default the task's ``threads``, else all cores). Latency is not timed here:
    the runner times it after all tasks, alone on the machine. Training and evaluation run on the
    task's device and precision (``train.device``, ``train.precision``), which the row records.
    """
    placement = resolve_placement(task.train.placement.device, task.train.placement.precision)
    deterministic_cuda(task.train.deterministic)
    with placed(placement):
        row = _run_task(task, ctx, force, baseline_file, threads)
    row.metrics |= placement.record()
    return row


def _run_task(task: Task, ctx: DatasetCache, force: bool, baseline_file: Path | None, threads: int | None) -> ResultRow:
    folder = task.folder
    if force and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(
        f"# {comment_safe(task.describe())}\n" + yaml.safe_dump(task.payload() | {"seed": task.seed}, sort_keys=False)
    )
    threads = configure(task.seed, task.train.deterministic, threads or task.threads)
    data = task.facts.data(task, ctx)
    work = task.facts.work
    if work is not None:  # a kind with its own work (generation); classification's is below
        return work(task, data, folder, baseline_file, threads)
    spec = task.input_spec(data)
    if task.chain is None:
        adapted: list[str] = []
        model = build_model(task.model, spec, adapted)
        weights = weights_record(task, adapted)
        result = fit(model, data, task.train, task.seed, checkpoint=folder / "checkpoint.pt")
        accuracy, metrics = (
            result.accuracy,
            {
                "epochs": task.train.epochs,
                "train_seconds": result.train_seconds,
                "train_images_per_second": result.images_per_second,
                "resumed_from_epoch": result.resumed_from_epoch,
                "history": result.history,
            }
            | weights,
        )
    else:
        model, accuracy, metrics = compress(task, data, spec, baseline_file or task.baseline().folder / "model.pt")
    model.eval()
    description = describe(task.model, spec)
    if task.dataset.mean is not None:  # a stated normalisation travels with the file, so eval and load use it
        description["normalisation"] = {"mean": list(data.info.mean), "std": list(data.info.std)}
    artifact, exported = save_artifact(model, folder, description, spec.shape, export=wants_onnx(task))
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
    metrics |= test_accuracy(model, data, task)
    metrics |= measure_task(model, spec, artifact, exported, task, threads)
    metrics |= exported_accuracy(model, data, artifact, task)
    metrics |= deployments_accuracy(model, data, artifact, exported, task, threads)
    return task_row(task, metrics, artifact, data.info.split_note)


def task_row(task: Task, metrics: dict, artifact: StoredArtifact, split_note: str) -> ResultRow:
    return ResultRow(
        config_hash=task.config_hash,
        run_name=task.run_name,
        model=task.model.label,
        dataset=task.dataset.name,
        method_chain=task.method_chain,
        seed=task.seed,
        metrics=metrics,
        artifacts=artifact.record(task="task.yaml"),
        config=task.payload() | {"seed": task.seed, "source": task.source, "split": split_note},
        **provenance(),
    )


def weights_record(task: Task, adapted: list[str]) -> dict:
    """Where a baseline's starting weights came from and what was adapted to fit the dataset (for the row)."""
    m = task.model
    if m.checkpoint is None and not m.pretrained:
        return {}
    source = "checkpoint" if m.checkpoint is not None else "pretrained"
    for note in adapted:
        console.print(f"[bold]weights[/bold] {escape(task.describe())}: {escape(note)}")
    if task.train.epochs == 0 and any(n.startswith("head replaced") for n in adapted):
        console.print(
            f"[yellow]note[/yellow] {escape(task.describe())}: train.epochs is 0, so the new head is untrained "
            "and the baseline's accuracy is chance-level; the chain's fine-tuning trains it"
        )
    return {"weights": {"source": source, "adapted": adapted, "used_as_given": task.train.epochs == 0}}


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


def test_accuracy(model, data: DataBundle, task: Task) -> dict:
    """Top-1 on the separate test split (``dataset.test_root``), measured once on the finished model:
    nothing is chosen by it (fine-tuning and search read the val split), so it stays an honest final figure."""
    if data.test is None:
        return {}
    acc = evaluate(model, BatchLoader(data.test, data.info, task.train.eval_batch_size))
    return {
        "test_top1": acc.top1,
        "test_top5": acc.top5,
        "test_loss": acc.loss,
        "test_images": acc.n,
        "test_split": data.info.test_note,
    }


def exported_accuracy(model, data: DataBundle, artifact: StoredArtifact, task: Task) -> dict:
    """Low-bit (Brevitas) models are also evaluated as their exported QCDQ ONNX file, which is what ships."""
    if artifact.kind != "brevitas" or artifact.onnx_path is None:
        return {}
    acc = evaluate(
        OnnxModel(artifact.onnx_path, model, "qcdq"), BatchLoader(data.eval, data.info, task.train.eval_batch_size)
    )
    return {"onnx_top1": acc.top1}


def deployments_accuracy(
    model, data: DataBundle, artifact: StoredArtifact, exported: ExportedOnnx | None, task: Task, threads: int
) -> dict:
    """Top-1 of the shipped ONNX file in every ONNX runtime and precision ``measure`` names, with its
    agreement with the float network, on the evaluation split (``measurement.deployed_accuracy``)."""
    m = task.measure
    if m is None or not m.latency or not needs_onnx(m.runtimes):
        return {}
    deployed = isinstance(model, OnnxModel)
    path = model.onnx_path if deployed else artifact.onnx_path if artifact.kind == "brevitas" else None
    path = path or (exported.path if exported is not None else None)
    if path is None or not Path(path).exists():
        return {}
    network = model.reference if deployed else model
    records = accuracy_per_deployment(
        Path(path),
        network,
        BatchLoader(data.eval, data.info, task.train.eval_batch_size),
        list(m.runtimes),
        list(m.precisions),
        threads,
        is_float_file=not deployed and artifact.kind != "brevitas",
    )
    return {"deployment_top1": records} if records else {}


def wants_onnx(task: Task) -> bool:
    """A task exports ONNX when ONNX Runtime is timed (a Brevitas model always: its QCDQ file ships)."""
    m = task.measure
    return bool(m is None or (m.latency and needs_onnx(m.runtimes)))


def measure_task(
    model: nn.Module, spec: InputSpec, artifact: StoredArtifact, exported: ExportedOnnx | None, task: Task, threads: int
) -> dict:
    """Params, MACs, artifact sizes and ONNX parity (nothing timed: that is the measurement phase's)."""
    cfg = BenchConfig(batch_sizes=task.measure.batch_sizes, runtimes=[], threads=threads, min_runs=5)
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
        "latency": [],
        "peak_gflops": None,
    }


@dataclass(frozen=True)
class TaskWork:
    """What a worker needs to run one task: the task, its thread count, the baseline it starts from."""

    task: Task
    threads: int
    force: bool = False
    baseline_file: Path | None = None  # the driver's path of the trained baseline a chain starts from
    home: Path = Path(".")  # the run folder on the driver, absolute


# Each worker process keeps its decoded datasets across its tasks; in the driver (one worker) it is
@contextmanager
def task_log(folder: Path, order: Order):
    """A worker process writes its task's log to ``task.log`` in the task folder: the driver's terminal
    shows the task board, which lines from several processes would tear."""
    if order.where == "driver":
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    saved = console.file
    with open(folder / "task.log", "a") as log:
        log.write(f"# attempt {order.attempt + 1} on {order.where}, pid {os.getpid()}\n")
        log.flush()
        console.file = log
        try:
            yield
        finally:
            console.file = saved


@dataclass
class TaskWorker:
    """What an executor calls with each order. In the driver it uses the run's cache, which the preflight
    filled; sent to a worker process it arrives without it and uses that process's own."""

    cache: DatasetCache = field(default_factory=DatasetCache)

    def __getstate__(self) -> dict:
        return {}  # the driver's decoded datasets do not travel

    def __setstate__(self, state: dict) -> None:
        self.cache = DatasetCache.of_this_process()

    def __call__(self, order: Order) -> ResultRow:
        """Run one task wherever the executor put it; returns its row for the driver to store.

        On a node without the driver's filesystem the task runs in the order's scratch copy of the run
        folder, and the row names the driver's folder, where its files are sent back.
        """
        p: TaskWork = order.job.payload
        task = p.task if order.scratch is None else replace(p.task, run_dir=order.local(p.home))
        order.restore(p.home / p.task.folder.relative_to(p.task.run_dir))  # an earlier attempt's checkpoints
        base = order.local(p.baseline_file) if p.baseline_file else None
        with task_log(task.folder, order):
            row = run_task(task, self.cache, p.force and order.attempt == 0, base, threads=p.threads)
        row.metrics |= {"retries": order.attempt, "worker": order.where}
        if order.scratch is not None:
            row.artifacts["dir"] = str(p.task.folder)
        return row
