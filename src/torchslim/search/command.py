"""``torchslim search``: trials, the pick, its confirmation on the other seeds, and the outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.markup import escape

from torchslim.config import RunConfig
from torchslim.config.search import SearchConfig
from torchslim.errors import TorchslimError
from torchslim.exclusive_lock import held
from torchslim.executors.choice import ExecutorChoice
from torchslim.methods.chain import Chain
from torchslim.owned_folders import run_folder
from torchslim.runner import run_tasks
from torchslim.search.deployment import fastest_deployment
from torchslim.search.outputs import SearchResult, choose, front_of, retime, write_outputs, write_pick
from torchslim.search.study import run_trials, storage_path
from torchslim.search.trials import Judged
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task
from torchslim.ui import console


def search(
    cfg: RunConfig,
    source: str = "",
    executor: ExecutorChoice | None = None,
    formats: tuple[str, ...] = ("md", "html", "terminal"),
) -> SearchResult:
    """Run (or resume) the search of ``cfg.search`` and write its outputs under ``<run>/search``.
    One search per store at a time: a second one would fail the first's live trials as stale and
    train its tasks in the same folders."""
    run_folder(cfg.run_dir)
    study_file = storage_path(Path(cfg.store))
    busy = f"another search is running on the store {cfg.store}"
    with held(study_file.with_name(study_file.name + ".lock"), busy):
        return searched(cfg, source, executor, formats)


def searched(cfg: RunConfig, source: str, executor: ExecutorChoice | None, formats: tuple[str, ...]) -> SearchResult:
    search_cfg = cfg.search or SearchConfig()
    trials, study, store, base, trial_cfg = run_trials(cfg, search_cfg, source, executor)
    base_row = store.get(base.key)
    pick, runner_up, rule = choose(trials, search_cfg)
    result = SearchResult(
        trials, front_of(trials), pick, runner_up, rule, base_row.metrics["top1"], cfg.run_dir / "search"
    )
    result.repeats = sum("repeat_of" in t.user_attrs for t in study.get_trials(deepcopy=False))
    if pick is not None:

        def task_of(trial: Judged) -> Task:
            return replace(base, chain=Chain.parse(trial.chain), finetune=cfg.finetune)

        def row_of(trial: Judged) -> ResultRow:
            row = store.get(task_of(trial).key)
            if row is None:  # a study keyed by method versions should never get here; say so if it does
                raise TorchslimError(
                    f"trial {trial.number}'s task ({trial.label}) is no longer in {cfg.store}: delete the study "
                    f"'{study.study_name}' in {storage_path(Path(cfg.store))} to search again"
                )
            return row

        rows = {"base": base_row, "pick": row_of(pick)}
        if search_cfg.runtime is not None:
            if runner_up is not None:
                rows["runner_up"] = row_of(runner_up)
            console.print("[bold]search[/bold] re-timing the pick against the runner-up and the baseline, side by side")
            retime(result, rows, search_cfg, cfg.measure.threads)  # may hand the pick to a more accurate twin
        pick_task = task_of(result.pick)
        pick_row = rows["pick"]
        if search_cfg.runtime is not None:
            console.print("[bold]search[/bold] timing the pick in every runtime, against the baseline's fastest")
            runtimes = [*cfg.measure.runtimes, search_cfg.runtime]
            result.deployment = fastest_deployment(
                {"base": base_row, "pick": pick_row}, search_cfg, runtimes, cfg.measure.threads
            )
            if result.deployment is not None:
                console.print(f"[bold]search[/bold] the pick's fastest deployment: {escape(result.deployment.text())}")
        result.rows = {"base": base_row, "pick": pick_row}
        if search_cfg.confirm and len(cfg.seeds) > 1:
            result.confirmed = confirm(cfg, trial_cfg, base, pick_task, store, executor)
        write_pick(result, cfg, pick_row, source)
    written = write_outputs(result, search_cfg, formats, console)
    result.files.update(written)
    console.print(rule)
    for name, path in result.files.items():
        console.print(f"search: {name}: {escape(str(path))}")
    return result


def confirm(
    cfg: RunConfig, trial_cfg: RunConfig, base: Task, pick_task: Task, store: Store, executor: ExecutorChoice | None
) -> dict[int, dict]:
    """The pick's chain and its baseline on every other seed of the recipe, as ordinary tasks."""
    tasks = []
    for seed in cfg.seeds[1:]:
        tasks += [replace(base, seed=seed), replace(pick_task, seed=seed)]
    console.print(f"[bold]search[/bold] confirming the pick on seed(s) {', '.join(map(str, cfg.seeds[1:]))}")
    run_tasks(trial_cfg, tasks, executor=executor)
    out = {}
    for seed in cfg.seeds[1:]:
        b, p = store.get(replace(base, seed=seed).key), store.get(replace(pick_task, seed=seed).key)
        if b is not None and p is not None:
            out[seed] = {
                "baseline": b.metrics["top1"],
                "pick": p.metrics["top1"],
                "drop": b.metrics["top1"] - p.metrics["top1"],
            }
    return out
