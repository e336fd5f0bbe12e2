"""The search loop: Optuna asks for chains, torchslim runs them as tasks, the judged trials are told back.

The study lives in an SQLite file beside the results store (``<store>.optuna.db``), named by the
content of the baseline task and the search settings (not their paths), so rerunning the same
command after a kill continues it: finished trials are kept, and trials that were running when
the process died are marked failed and asked again with the same parameters (their tasks resume
from their last epoch checkpoint). Raising ``trials`` continues the same study.

Two objectives, top-1 (maximised) and the cost (minimised), with the accuracy budget as an Optuna
constraint (``drop - max_drop <= 0``), so the TPE sampler learns where the feasible region is.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from rich.markup import escape

from torchslim.artifacts import stored_artifact
from torchslim.config import RunConfig
from torchslim.config.search import SearchConfig
from torchslim.errors import BelowBudget, ConfigError, TorchslimError
from torchslim.executors.choice import ExecutorChoice
from torchslim.methods import method_facts
from torchslim.models import load_model
from torchslim.runner import run_tasks
from torchslim.search.space import SEARCHED_METHODS, fit_to_model, grid_bounds, suggest_chain
from torchslim.search.trials import COMPLETE, FAILED, PRUNED, Judged, cost_cell, judge, stopped_below, trial_task
from torchslim.store import Store
from torchslim.tasks import Task, expand
from torchslim.ui import console


def optuna():
    """Optuna, an optional extra (``torchslim[search]``), imported only by a search."""
    try:
        import optuna as lib
    except ImportError:
        raise ConfigError("torchslim search needs Optuna: pip install 'torchslim[search]'") from None
    lib.logging.set_verbosity(lib.logging.WARNING)
    warnings.filterwarnings("ignore", category=lib.exceptions.ExperimentalWarning)
    return lib


def storage_path(store: Path) -> Path:
    return store.with_name(store.stem + ".optuna.db")


def study_name(cfg: RunConfig, base: Task, search: SearchConfig) -> str:
    """Keyed by content: the baseline task's hash, every search setting that changes a trial, and the
    behaviour versions of the methods a trial can run."""
    settings = search.model_dump(mode="json", exclude={"trials", "confirm"})
    if not search.space.has_depth:
        del settings["space"]["depth"]  # changes no trial: a study from before depth pruning keeps its name
    # a method's new behaviour version recomputes its tasks, so the trials judged with the old one are not reused
    versions = {name: method_facts(name).version for name in SEARCHED_METHODS}
    digest = hashlib.sha1(json.dumps([base.config_hash, base.seed, settings, cfg.finetune.key(), versions]).encode())
    return f"{cfg.name}:{digest.hexdigest()[:16]}"


def open_study(cfg: RunConfig, base: Task, search: SearchConfig, parallel: int) -> Any:
    lib = optuna()
    sampler = lib.samplers.TPESampler(
        seed=search.seed,
        n_startup_trials=max(4, min(10, search.trials // 3)),
        multivariate=True,
        group=True,  # the parameters present depend on the chain family
        constant_liar=parallel > 1,
        constraints_func=lambda t: [over_budget(t.user_attrs, search.max_drop)],
    )
    path = storage_path(Path(cfg.store))
    path.parent.mkdir(parents=True, exist_ok=True)
    study = lib.create_study(
        study_name=study_name(cfg, base, search),
        storage=f"sqlite:///{path}",
        directions=["maximize", "minimize"],
        sampler=sampler,
        load_if_exists=True,
    )
    recover(study)
    if not study.get_trials(deepcopy=False):
        for params in first_guesses(search):
            study.enqueue_trial(params)
    return study


def first_guesses(search: SearchConfig) -> list[dict]:
    """The trials an engineer would try first, where the space holds them: INT8 static alone;
    structured pruning to half the MACs (l1, widths rounded to 8), alone and followed by INT8 static;
    the deepest cut the space allows, followed by INT8 static and in float; then the most blocks the
    space removes, with INT8 static, alone and with the half cut (small inputs have a latency floor
    that only fewer layers get under: prune/depth.py). They start the study
    instead of random draws, so TPE models from points that span the amount range: with only moderate
    cuts seen, it never learns that a small float model can beat every quantized one (tiny models pay
    INT8's quantize and dequantize steps at batch 1), nor that a large model needs both to go far."""
    st, families = search.space.structured, search.families()
    low, high = grid_bounds(st.range.low, st.range.high)
    deepest = high if st.amount == "ratio" else low  # a ratio removes channels, a MACs target keeps them
    common = {
        "importance": "l1" if "l1" in st.importance else st.importance[0],
        "round_to": 8 if 8 in st.round_to else st.round_to[0],
        "finetune": search.space.finetune[0],
    }
    half = {f"{st.amount}_pct": min(max(50, low), high)} | common
    deep = {f"{st.amount}_pct": deepest} | common
    guesses = [
        {"chain": "static"},
        {"chain": "structured"} | half,
        {"chain": "structured+static"} | half,
        {"chain": "structured+static"} | deep,
        {"chain": "structured"} | deep,
        {"chain": "depth+static", "blocks": search.space.depth.high, "finetune": common["finetune"]},
        {"chain": "depth+structured+static", "blocks": search.space.depth.high} | half,
    ]
    unique = [g for i, g in enumerate(guesses) if g not in guesses[:i]]
    return [g for g in unique if g["chain"] in families][: max(1, search.trials // 4)]


#: the sampler may repeat judged chains this many times the trial budget before the search stops
MAX_REPEATS = 3


def over_budget(attrs: dict, max_drop: float) -> float:
    """Optuna's constraint: at most 0 within the budget; a trial stopped early or failed is far outside."""
    drop = attrs.get("drop")
    return float("inf") if drop is None else drop - max_drop


def recover(study: Any) -> int:
    """Trials left running by a killed search: marked failed and asked again with their parameters."""
    lib = optuna()
    stale = study.get_trials(deepcopy=False, states=(lib.trial.TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=lib.trial.TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"redo_of": t.number})
    if stale:
        console.print(f"search: {len(stale)} trial(s) interrupted last time are asked again")
    return len(stale)


def judged_trials(study: Any) -> list[Judged]:
    """Every trial the search finished and judged, in order (not those abandoned by a kill, nor repeats)."""
    return [Judged.from_attrs(t.user_attrs) for t in study.get_trials(deepcopy=False) if "state" in t.user_attrs]


def parallel_trials(executor: ExecutorChoice | None) -> int:
    """How many trials are asked at once: one per worker, so they train side by side."""
    if executor is None:
        return 1
    if executor.kind == "ray":
        return 4
    if executor.workers == "auto":
        return max(1, (os.cpu_count() or 1) // 2)
    return int(executor.workers)


def baseline_of(cfg: RunConfig, source: str) -> tuple[RunConfig, Task]:
    """The run config trials share (one model, the first seed, latency timed by the search itself) and
    the baseline task every trial starts from."""
    if len(cfg.models) != 1:
        names = ", ".join(m.label for m in cfg.models)
        raise ConfigError(f"a search takes one model; this config names {len(cfg.models)} ({names}): keep one")
    measure = cfg.measure.model_copy(update={"latency": False, "compare": False})
    trial_cfg = cfg.model_copy(update={"measure": measure, "methods": [], "seeds": [cfg.seeds[0]]})
    return trial_cfg, expand(trial_cfg, source)[0]


def run_trials(
    cfg: RunConfig, search: SearchConfig, source: str = "", executor: ExecutorChoice | None = None
) -> tuple[list[Judged], Any, Store, Task, RunConfig]:
    """Run the search until ``search.trials`` trials are judged; returns them, the study, the store,
    the baseline task and the run config trials share."""
    trial_cfg, base = baseline_of(cfg, source)
    trial_cfg.run_dir.mkdir(parents=True, exist_ok=True)
    store = run_tasks(trial_cfg, [base], executor=executor)
    base_row = store.get(base.key)
    if base_row is None:
        raise TorchslimError(f"the baseline did not train, so nothing can be searched: {store.failure(base.key)}")
    floor = base_row.metrics["top1"] - search.max_drop
    abandon = floor - search.margin
    parallel = parallel_trials(executor)
    model, spec = load_model(stored_artifact(base_row).model_path)
    search, narrowed = fit_to_model(search, model, spec.shape)
    if narrowed:
        console.print(f"search: {narrowed}")
    study = open_study(cfg, base, search, parallel)
    done = judged_trials(study)
    console.print(
        f"[bold]search[/bold] {search.objective} within {search.max_drop:g} points of the baseline's "
        f"{base_row.metrics['top1']:.2f}% (top-1 >= {floor:.2f}%; a trial below {abandon:.2f}% after its first "
        f"fine-tuning epoch is stopped): {len(done)} of {search.trials} trials already done "
        f"({storage_path(Path(cfg.store))})"
    )
    lib = optuna()
    seen = {j.task_hash: j for j in done if j.state != FAILED}
    repeats = 0
    while len(done) < search.trials:
        fresh: list[tuple[Any, list[dict], Task]] = []
        # asked until the batch holds one chain to compute per worker: neither a repeat nor a chain the store
        # already holds (from an earlier search on the same baseline) leaves a worker idle
        while (
            sum(store.get(t.key) is None for _, _, t in fresh) < parallel
            and len(fresh) < search.trials - len(done)
            and repeats <= MAX_REPEATS * search.trials
        ):
            trial = study.ask()
            chain = suggest_chain(trial, search)
            task = trial_task(base, chain, cfg.finetune, abandon)
            if task.config_hash in seen:  # a chain judged before: told its result again, not counted
                repeat(study, trial, seen[task.config_hash])
                repeats += 1
            elif twin := next((t for t, _, k in fresh if k.config_hash == task.config_hash), None):
                trial.set_user_attr("repeat_of", twin.number)  # drawn twice in one batch: judged once
                study.tell(trial, state=lib.trial.TrialState.FAIL)
                repeats += 1
            else:
                fresh.append((trial, chain, task))
        if not fresh:
            console.print(
                f"search: the sampler keeps drawing chains it has already judged ({repeats} repeats): "
                f"stopped with {len(done)} distinct trials; widen the space for more"
            )
            break
        # a chain stopped early below this threshold is not run again (its epoch checkpoint would let it finish)
        runnable = [t for _, _, t in fresh if not stopped_below(store.failure(t.key), abandon)]
        run_tasks(trial_cfg, runnable, executor=executor, expected=(BelowBudget,))
        for trial, chain, task in fresh:
            j = judge(trial.number, chain, task, store, base_row, search, cfg.measure.threads)
            for key, value in j.as_attrs().items():
                trial.set_user_attr(key, value)
            if j.state == COMPLETE:
                study.tell(trial, [j.top1, j.value])
            else:
                state = lib.trial.TrialState.PRUNED if j.state == PRUNED else lib.trial.TrialState.FAIL
                study.tell(trial, state=state)
            done.append(j)
            if j.state != FAILED:
                seen[j.task_hash] = j
            console.print(f"[bold]trial[/bold] {len(done)}/{search.trials}  {escape(describe(j, search))}")
    return done, study, store, base, trial_cfg


def repeat(study: Any, trial: Any, earlier: Judged) -> None:
    """Tell the sampler a chain's earlier result without timing it again. TPE draws the same
    categorical choices often; a repeat costs no training (the store has the task) and is not one of
    the ``trials``, which count distinct chains, so a repeat no longer crowds out a new one."""
    lib = optuna()
    trial.set_user_attr("repeat_of", earlier.number)
    trial.set_user_attr("drop", earlier.drop)  # what the budget constraint reads
    if earlier.state == COMPLETE:
        study.tell(trial, [earlier.top1, earlier.value])
    else:
        study.tell(trial, state=lib.trial.TrialState.PRUNED)


def describe(j: Judged, search: SearchConfig) -> str:
    if j.state == PRUNED:
        return f"{j.label}: stopped early ({j.note.split(': ', 1)[-1]})"
    if j.state == FAILED:
        return f"{j.label}: failed ({j.note})"
    ok = "within budget" if j.feasible(search.max_drop) else "over budget"
    return f"{j.label}: top-1 {j.top1:.2f}% ({-j.drop:+.2f}, {ok}), {cost_cell(j, search)}"
