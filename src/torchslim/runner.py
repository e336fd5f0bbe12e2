"""Runs a recipe: setup -> train -> evaluate -> save -> record, one task at a time.

Finished tasks are in the store and are skipped (unless forced); an unfinished task resumes from
its last epoch checkpoint. The report is regenerated from the store at the end.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import yaml
from rich.markup import escape
from torch import nn

from torchslim.artifacts import StoredArtifact, relocated, stored_artifact, with_absolute_folder
from torchslim.backends.brevitas import is_brevitas
from torchslim.config import RunConfig, Sweep, to_yaml
from torchslim.data import DATASETS, BatchLoader, DataBundle, DatasetConfig, build_dataset
from torchslim.device import deterministic_cuda, placed
from torchslim.device import resolve as resolve_placement
from torchslim.errors import ConfigError, Interrupted, TorchslimError, failure_note
from torchslim.executors import Job, Order, Outcome, Resources, drive
from torchslim.executors.exclusive import Exclusive, on_the_driver
from torchslim.executors.local import InProcessBackend, ProcessPoolBackend
from torchslim.executors.progress import TaskBoard
from torchslim.executors.resources import auto_workers, task_threads
from torchslim.export.checkpoint import save_model
from torchslim.export.deployed import OnnxModel
from torchslim.export.onnx import ExportedOnnx, export_onnx
from torchslim.latency_comparison import compare_run, load_artifact
from torchslim.measurement.accuracy import evaluate
from torchslim.measurement.bench import BenchConfig, measure
from torchslim.measurement.complexity import complexity
from torchslim.measurement.latency import onnx_providers
from torchslim.methods import MethodContext, apply_chain
from torchslim.models import InputSpec, build_model, describe, load_model
from torchslim.models.weights import pretrained_file, read_state_dict
from torchslim.provenance import provenance
from torchslim.report.build import write_report
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task, expand
from torchslim.tracking import log_rows, tracking_uri
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


def run_task(
    task: Task,
    ctx: TaskContext,
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
    placement = resolve_placement(task.train.device, task.train.precision)
    deterministic_cuda(task.train.deterministic)
    with placed(placement):
        row = _run_task(task, ctx, force, baseline_file, threads)
    row.metrics |= placement.record()
    return row


def _run_task(task: Task, ctx: TaskContext, force: bool, baseline_file: Path | None, threads: int | None) -> ResultRow:
    folder = task.folder
    if force and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(
        f"# {task.describe()}\n" + yaml.safe_dump(task.payload() | {"seed": task.seed}, sort_keys=False)
    )
    threads = configure(task.seed, task.train.deterministic, threads or task.threads)
    data = ctx.dataset(task.dataset)
    spec = input_spec(data)
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
    metrics |= measure_task(model, spec, artifact, exported, task, threads)
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


def missing_latency(row: ResultRow, m) -> set[tuple[str, int]]:
    """The (runtime, batch size) pairs a recipe's ``measure`` asks for that a stored row was not timed at."""
    if m is None or not m.latency:
        return set()
    deployed = stored_artifact(row).kind == "onnx"  # an ONNX Runtime file has no PyTorch latency
    have = {(x["runtime"], x["batch_size"]) for x in row.metrics.get("latency", [])}
    return {(r, b) for r in m.runtimes if not (deployed and r == "torch") for b in m.batch_sizes} - have


def timing_gaps(task: Task, row: ResultRow, spec: InputSpec, root: Path | None = None) -> dict | None:
    """The latency a finished task's row still lacks, timed from its saved artifact (read under ``root``
    when the timing runs on another machine): a recipe that now asks for more batch sizes or runtimes
    has only those timed, nothing is retrained, and nothing asked for stays silently unmeasured.
    Returns the row's updated latency metrics, or None when nothing is missing or the file is gone."""
    gaps = missing_latency(row, task.measure)
    row = relocated(row, root)
    artifact = stored_artifact(row)
    if not gaps or artifact.missing_file() is not None:
        return None
    m = task.measure
    cfg = BenchConfig(
        batch_sizes=sorted({b for _, b in gaps}),
        runtimes=[r for r in m.runtimes if any(g[0] == r for g in gaps)],
        threads=m.threads,
        min_seconds=m.min_seconds,
        min_runs=5,
    )
    result = measure(load_artifact(row), cfg, spec=spec, artifact=artifact.model_path or artifact.onnx_path)
    record = result.as_dict()
    added = [x for x in record["latency"] if (x["runtime"], x["batch_size"]) in gaps]
    return {"latency": row.metrics.get("latency", []) + added, "peak_gflops": record["peak_gflops"]}


def time_each(items: list[tuple[Task, ResultRow, InputSpec]], root: Path | None) -> list[dict | None]:
    """The timing phase's work, one artifact at a time (on the driver or on a node held whole)."""
    return [timing_gaps(task, row, spec, root) for task, row, spec in items]


def preflight(tasks: list[Task], ctx: TaskContext, elsewhere: bool = False) -> dict[str, int]:
    """Load data, read checkpoints and pass one batch through each model before any task starts:
    bad input fails fast and costs nothing. Returns each model's MACs per image (which size its task)."""
    checked: dict[tuple[str, str], int] = {}
    macs: dict[str, int] = {}
    for task in tasks:
        resolve_placement(task.train.device, task.train.precision, elsewhere)  # cuda on a machine without it
        data = ctx.dataset(task.dataset)
        if task.model.checkpoint is not None:
            read_state_dict(task.model.checkpoint)
        if task.model.pretrained:
            pretrained_file(task.model.name)  # one line naming where to place the file when it is not cached
        if task.chain is None and task.train.epochs > 0 and len(data.train) < task.train.batch_size:
            raise TorchslimError(
                f"train.batch_size {task.train.batch_size} is larger than the training split of "
                f"'{task.dataset.name}' ({len(data.train)} images): not one step would be trained; lower it"
            )
        pair = (task.model.model_dump_json(), task.dataset.model_dump_json())
        if pair not in checked:
            checked[pair] = check_pairing(task, input_spec(data))
        macs[task.model.label] = max(macs.get(task.model.label, 0), checked[pair])
    return macs


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


def check_pairing(task: Task, spec: InputSpec, classes: bool = True) -> int:
    """The model, built for the dataset's input, takes one image and gives one score per class;
    returns its MACs per image."""
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
    return complexity(model, spec.shape).macs


@dataclass(frozen=True)
class TaskWork:
    """What a worker needs to run one task: the task, its thread count, the baseline it starts from."""

    task: Task
    threads: int
    force: bool = False
    baseline_file: Path | None = None  # the driver's path of the trained baseline a chain starts from
    home: Path = Path(".")  # the run folder on the driver, absolute


# Each worker process keeps its decoded datasets across its tasks; in the driver (one worker) it is
# the run's own context, whose datasets the preflight already decoded.
_WORKER_CONTEXT = TaskContext()


def work(order: Order) -> ResultRow:
    """Run one task wherever the executor put it; returns its row for the driver to store.

    On a node without the driver's filesystem the task runs in the order's scratch copy of the run
    folder, and the row names the driver's folder, where its files are sent back.
    """
    p: TaskWork = order.job.payload
    task = p.task if order.scratch is None else replace(p.task, run_dir=order.local(p.home))
    order.restore(p.home / p.task.folder.relative_to(p.task.run_dir))  # an earlier attempt's checkpoints
    base = order.local(p.baseline_file) if p.baseline_file else None
    with task_log(task.folder, order):
        row = run_task(task, _WORKER_CONTEXT, p.force and order.attempt == 0, base, threads=p.threads)
    row.metrics |= {"retries": order.attempt, "worker": order.where}
    if order.scratch is not None:
        row.artifacts["dir"] = str(p.task.folder)
    return row


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
class ExecutorChoice:
    """``--executor`` and ``--workers``: where the tasks run."""

    kind: str = "local"  # local | ray
    workers: int | str = 1  # a count, or "auto"
    address: str | None = None  # the Ray cluster (None: a private one on this machine)

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor '{self.kind}'; choose one of: {', '.join(EXECUTORS)}")
        if self.workers != "auto" and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"--workers must be a whole number of at least 1, or auto (got '{self.workers}')")


EXECUTORS = ("local", "ray")


def plan(todo: list[Task], ctx: TaskContext, force: bool, elsewhere: bool = False) -> list[Job]:
    """The task graph: one job per task to run, a chain needing its baseline when that runs too.
    ``elsewhere``: the tasks run on other machines (Ray), where a GPU this driver lacks may be."""
    macs = preflight(todo, ctx, elsewhere) if todo else {}
    keys = {t.key for t in todo}
    jobs = []
    for t in todo:
        threads = task_threads(t.threads, macs.get(t.model.label, 0))
        needs = (t.baseline().key,) if t.chain is not None and t.baseline().key in keys else ()
        payload = TaskWork(t, threads, force, home=t.run_dir.resolve())
        gpus = int(resolve_placement(t.train.device, t.train.precision, elsewhere).is_cuda)
        resources = Resources(cpus=threads, gpus=gpus)
        jobs.append(Job(t.key, payload, t.describe(), needs, resources, home=t.run_dir.resolve()))
    return jobs


def with_baseline(store: Store):
    """A chain job, as it starts, gets the stored artifact of its baseline (trained just now or earlier)."""

    def prepare(job: Job) -> Job:
        p: TaskWork = job.payload
        if p.task.chain is None:
            return job
        base = store.get(p.task.baseline().key)
        path = stored_artifact(base).model_path if base else None
        path = path.resolve() if path is not None else None
        return replace(job, payload=replace(p, baseline_file=path), inputs=(path,) if path and path.exists() else ())

    return prepare


def backend_for(choice: ExecutorChoice, jobs: list[Job], ctx: TaskContext, homes: list[Path]):
    """In this process for one worker, a pinned process pool for several, Ray for a cluster."""
    if choice.kind == "ray":
        from torchslim.executors.ray_cluster import RayBackend

        backend = RayBackend(work, homes, choice.address)
        try:
            backend.check_gpus(max((j.resources.gpus for j in jobs), default=0))
        except ConfigError:
            backend.close()
            raise
        return backend, "ray"
    threads = max((j.resources.cpus for j in jobs), default=1)
    n = choice.workers
    if n == "auto":
        widest = max(
            sum(j.payload.task.chain is None for j in jobs), sum(j.payload.task.chain is not None for j in jobs)
        )
        n = auto_workers(threads, widest, data_bytes([j.payload.task for j in jobs], ctx))
    if n == 1:
        return InProcessBackend(work), "1 worker, in this process"
    return ProcessPoolBackend(work, n, threads), f"{n} workers x {threads} thread(s), pinned"


def exclusive_for(choice: ExecutorChoice) -> Exclusive:
    """Where the timing phase runs: the driver, or a whole node of the Ray cluster."""
    if choice.kind == "ray":
        from torchslim.executors.ray_cluster import on_a_whole_node

        return on_a_whole_node(choice.address)
    return on_the_driver


def data_bytes(tasks: list[Task], ctx: TaskContext) -> int:
    """Decoded size of the in-memory datasets the tasks use (each worker holds its own copy)."""
    seen = {t.dataset.model_dump_json(): t.dataset for t in tasks}
    total = 0
    for cfg in seen.values():
        d = ctx.dataset(cfg)
        total += sum(x.nbytes for x in (d.train.images, d.eval.images) if isinstance(x, torch.Tensor))  # streamed: 0
    return total


def run_tasks(
    cfg: RunConfig,
    tasks: list[Task],
    force: bool = False,
    ctx: TaskContext | None = None,
    executor: ExecutorChoice | None = None,
    homes: list[Path] | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Store:
    """Run the tasks not yet in the store (all of them with ``force``), then time what was not yet
    timed, alone on the machine; returns the store. The driver is the only writer of the store;
    workers write only in ``homes`` (the run folders, default ``cfg``'s). A task failing with an
    ``expected`` error is recorded as a failure and the others go on (a search's stopped trials)."""
    store = Store(cfg.store)
    todo = list({t.key: t for t in tasks if force or not store.has(t.key)}.values())  # a shared task runs once
    for t in tasks:
        if not force and store.has(t.key):
            console.print(f"[dim]skip[/dim]  {escape(t.describe())}  (already in {cfg.store}; --force reruns)")
    ctx = ctx or TaskContext()
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    choice = executor or ExecutorChoice()
    jobs = plan(todo, ctx, force, elsewhere=choice.kind == "ray")
    done = 0
    if jobs:
        backend, how = backend_for(choice, jobs, ctx, homes or [cfg.run_dir.resolve()])
        console.print(f"[bold]tasks[/bold] {len(jobs)} to run ({how})")
        board = TaskBoard({j.key: j.label for j in jobs}, parallel=len(getattr(backend, "slots", [])) or 1)

        def finish(outcome: Outcome) -> None:
            nonlocal done
            if outcome.error is None:
                store.put(outcome.value)
                done += 1
                m = outcome.value.metrics
                retried = f", retried {m['retries']}x" if m.get("retries") else ""
                board.finish(outcome.key, True, f"{m['eval_split']} top-1 {m['top1']:.2f}%{retried}")
            else:
                err = outcome.error
                store.put_failure(outcome.key, failure_note(err))
                said = f"stopped: {err}" if isinstance(err, expected) else f"failed: {type(err).__name__}"
                board.finish(outcome.key, False, said)

        try:
            with board:
                drive(
                    jobs,
                    backend,
                    prepare=with_baseline(store),
                    on_start=lambda o: board.start(o.job.key, "" if o.where == "driver" else o.where),
                    on_finish=finish,
                    idle=board.refresh,
                    expected=expected,
                )
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted: {done} of {len(todo)} tasks finished this time and are in {cfg.store} "
                f"({len(tasks) - len(todo) + done} of {len(tasks)} in all); the tasks in progress resume from their "
                "last epoch checkpoint: rerun the same command"
            ) from None
        finally:
            backend.close()
    measurement_phase(tasks, store, ctx, exclusive_for(choice))
    return store


def measurement_phase(tasks: list[Task], store: Store, ctx: TaskContext, exclusive: Exclusive = on_the_driver) -> None:
    """Latency is timed here, after every task has finished and with nothing else of ours running:
    a speed figure is never taken while other tasks train beside it. ``exclusive`` says where: the
    driver, or one Ray task holding a whole node (``--executor ray``). Each row records which."""
    gaps = [t for t in tasks if (row := store.get(t.key)) is not None and missing_latency(row, t.measure)]
    if not gaps:
        return
    alone = "alone on the machine" if exclusive is on_the_driver else "on one node of the Ray cluster, held whole"
    console.print(f"[bold]measure[/bold] latency of {len(gaps)} artifact(s), one at a time, {alone}")
    if torch.cuda.is_available() and "CUDAExecutionProvider" not in onnx_providers():
        console.print(
            "measure: this onnxruntime has no CUDA provider, so ONNX Runtime is timed on the CPU only "
            "(install onnxruntime-gpu for its GPU figures); PyTorch is timed on the GPU too"
        )
    items = [(t, with_absolute_folder(store.get(t.key)), input_spec(ctx.dataset(t.dataset))) for t in gaps]
    updates, where = exclusive(time_each, items, [r for _, r, _ in items])
    for (t, _, _), update in zip(items, updates):
        if update is not None:
            row = store.get(t.key)  # the stored row, with its own artifact paths
            store.put(replace(row, metrics=row.metrics | update | {"latency_where": where}))
            added = update["latency"][len(row.metrics.get("latency", [])) :]
            pairs = ", ".join(f"{x['runtime']} b{x['batch_size']}" for x in added)
            console.print(f"[bold]measure[/bold] {escape(t.describe())}: {pairs} ({where})")


def run(
    cfg: RunConfig | Sweep,
    source: str = "",
    force: bool = False,
    formats: tuple[str, ...] = ("md", "html", "terminal"),
    executor: ExecutorChoice | None = None,
) -> list[ResultRow]:
    """Run every task of ``cfg`` (a run, or each run of a sweep as one task graph) not yet in the
    store, then write each run's report. Returns all their rows."""
    runs = cfg.runs if isinstance(cfg, Sweep) else [cfg]
    tasks_of = {}
    for run_cfg in runs:
        run_cfg.run_dir.mkdir(parents=True, exist_ok=True)
        (run_cfg.run_dir / "config.resolved.yaml").write_text(
            f"# torchslim run {source or '<config>'}\n" + to_yaml(run_cfg)
        )
        tasks_of[run_cfg.name] = expand(run_cfg, source)
    every = [t for tasks in tasks_of.values() for t in tasks]
    store = run_tasks(runs[0], every, force, executor=executor, homes=[r.run_dir.resolve() for r in runs])
    for run_cfg in runs:
        compare_run(run_cfg, tasks_of[run_cfg.name], store, exclusive_for(executor or ExecutorChoice()))
        written = write_report(run_cfg, store, source, formats, console, charts_only=True, tasks=tasks_of[run_cfg.name])
        for path in written.values():
            console.print(f"report: {path}")
        if run_cfg.tracking.mlflow:
            mirror(run_cfg, tasks_of[run_cfg.name], store)
    return [r for t in every if (r := store.get(t.key)) is not None]


def mirror(run_cfg: RunConfig, tasks: list[Task], store: Store) -> None:
    """Log the run's stored tasks as MLflow runs (``tracking.mlflow``), after its report exists."""
    rows = [r for t in tasks if (r := store.get(t.key)) is not None]
    with console.status("logging to MLflow ..."):
        logged = log_rows(rows, run_cfg.tracking, run_cfg.run_dir, run_cfg.name)
    where = tracking_uri(run_cfg.tracking, run_cfg.run_dir)
    console.print(f"mlflow: {logged} run(s) logged, {len(rows) - logged} already there ({where})")
