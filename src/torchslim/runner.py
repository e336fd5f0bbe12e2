"""Runs a recipe: its tasks as one graph on the chosen executor, then the latency of what was not yet
timed, then the report.

Finished tasks are in the store and are skipped (unless forced); an unfinished task resumes from
its last epoch checkpoint. The parts live beside it: ``preflight`` (checks before any task),
``task_execution`` (one task, in a worker), ``measurement_phase`` (timing, alone on the machine)
and ``executors.choice`` (where the tasks go).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.markup import escape

from torchslim.artifacts import stored_artifact
from torchslim.config import RunConfig, Sweep, to_yaml
from torchslim.data.cache import DatasetCache
from torchslim.device import resolve as resolve_placement
from torchslim.errors import DiskFullError, Interrupted, failure_note, stop_word
from torchslim.executors import Job, Outcome, Resources, drive
from torchslim.executors.choice import ExecutorChoice, backend_for, exclusive_for
from torchslim.executors.progress import TaskBoard
from torchslim.executors.resources import task_threads
from torchslim.latency_comparison import compare_run
from torchslim.measurement_phase import measurement_phase
from torchslim.owned_folders import run_folder
from torchslim.preflight import preflight
from torchslim.report.build import write_report
from torchslim.store import ResultRow, Store
from torchslim.task_execution import TaskWork, TaskWorker
from torchslim.tasks import Task, expand
from torchslim.tracking import log_rows, tracking_uri
from torchslim.ui import console
from torchslim.yaml_input import comment_safe


def plan(todo: list[Task], ctx: DatasetCache, force: bool, elsewhere: bool = False) -> list[Job]:
    """The task graph: one job per task to run, a chain needing its baseline when that runs too.
    ``elsewhere``: the tasks run on other machines (Ray), where a GPU this driver lacks may be."""
    macs = preflight(todo, ctx, elsewhere) if todo else {}
    keys = {t.key for t in todo}
    jobs = []
    for t in todo:
        threads = task_threads(t.threads, macs.get(t.model.label, 0))
        needs = (t.baseline().key,) if t.chain is not None and t.baseline().key in keys else ()
        payload = TaskWork(t, threads, force, home=t.run_dir.resolve())
        gpus = int(resolve_placement(t.train.placement.device, t.train.placement.precision, elsewhere).is_cuda)
        resources = Resources(cpus=threads, gpus=gpus)
        jobs.append(Job(t.key, payload, t.describe(), needs, resources, home=t.run_dir.resolve()))
    return jobs


def score_note(m: dict) -> str:
    """A finished task's primary score, as the task board shows it."""
    if "fid" in m:
        return f"{m['fid_features']} {m['fid']:.2f} ± {m['fid_std']:.2f}"
    if "map50_95" in m:
        return f"mAP50 {m['map50']:.3f}  mAP50-95 {m['map50_95']:.3f}  params {m['params'] / 1e6:.2f}M"
    return f"{m['eval_split']} top-1 {m['top1']:.2f}%"


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


def run_tasks(
    cfg: RunConfig,
    tasks: list[Task],
    force: bool = False,
    ctx: DatasetCache | None = None,
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
    ctx = ctx or DatasetCache()
    choice = executor or ExecutorChoice()
    jobs = plan(todo, ctx, force, elsewhere=choice.kind == "ray")
    done = 0
    if jobs:
        widest = max(
            sum(j.payload.task.chain is None for j in jobs), sum(j.payload.task.chain is not None for j in jobs)
        )
        # the decoded datasets a pool's workers would each hold (a detector's data stays on disk)
        datasets = [j.payload.task.dataset for j in jobs if j.payload.task.facts.preflight is None]
        backend, how = backend_for(
            choice, TaskWorker(ctx), jobs, homes or [cfg.run_dir.resolve()], widest, lambda: ctx.decoded_bytes(datasets)
        )
        console.print(f"[bold]tasks[/bold] {len(jobs)} to run ({how})")
        already = sum(store.has(j.key) for j in jobs)  # rows a --force rerun replaces
        board = TaskBoard({j.key: j.label for j in jobs}, parallel=len(getattr(backend, "slots", [])) or 1)

        def finish(outcome: Outcome) -> None:
            nonlocal done
            if outcome.error is None:
                store.put(outcome.value)
                done += 1
                m = outcome.value.metrics
                retried = f", retried {m['retries']}x" if m.get("retries") else ""
                board.finish(outcome.key, True, f"{score_note(m)}{retried}")
            else:
                err = outcome.error
                if isinstance(err, DiskFullError):  # every later write would fail too: stop here, in one line
                    raise err
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
        except KeyboardInterrupt as exc:
            word, code = stop_word(exc)
            # counted in the store: a signal may land between a row's storing and a counter's increment
            done = max(done, sum(store.has(j.key) for j in jobs) - already)
            raise Interrupted(
                f"{word}: {done} of {len(todo)} tasks finished this time and are in {cfg.store} "
                f"({len(tasks) - len(todo) + done} of {len(tasks)} in all); the tasks in progress resume from their "
                "last epoch checkpoint: rerun the same command",
                code,
            ) from None
        finally:
            backend.close()
    measurement_phase(tasks, store, ctx, exclusive_for(choice))
    return store


def run(
    cfg: RunConfig | Sweep,
    source: str = "",
    force: bool = False,
    formats: tuple[str, ...] = ("md", "html", "terminal"),
    executor: ExecutorChoice | None = None,
    report_builder=None,
) -> list[ResultRow]:
    """Run every task of ``cfg`` (a run, or each run of a sweep as one task graph) not yet in the
    store, then write each run's report (``report_builder``: a task kind's document, default
    classification's). Returns all their rows."""
    runs = cfg.runs if isinstance(cfg, Sweep) else [cfg]
    tasks_of = {}
    for run_cfg in runs:
        run_folder(run_cfg.run_dir)
        (run_cfg.run_dir / "config.resolved.yaml").write_text(
            f"# torchslim run {comment_safe(source or '<config>')}\n" + to_yaml(run_cfg)
        )
        tasks_of[run_cfg.name] = expand(run_cfg, source)
    every = [t for tasks in tasks_of.values() for t in tasks]
    store = run_tasks(runs[0], every, force, executor=executor, homes=[r.run_dir.resolve() for r in runs])
    for run_cfg in runs:
        compare_run(run_cfg, tasks_of[run_cfg.name], store, exclusive_for(executor or ExecutorChoice()))
        written = write_report(
            run_cfg,
            store,
            source,
            formats,
            console,
            charts_only=True,
            tasks=tasks_of[run_cfg.name],
            builder=report_builder,
        )
        for path in written.values():
            console.print(f"report: {escape(str(path))}")
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
