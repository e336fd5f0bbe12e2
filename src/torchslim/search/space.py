"""A trial's method chain, drawn from the search space with Optuna's define-by-run API.

The parameter names are fixed (``chain``, ``blocks``, ``importance``, ``macs_target_pct`` or
``ratio_pct``, ``round_to``, ``finetune``, ``sparsity_pct``), so trials of a study stay comparable and a killed
trial can be enqueued again with its parameters. Amounts are whole percents on a 5 % grid: two
trials that draw the same chain are the same task, which the store computes once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from torchslim.config.search import DEPTH, GRID_PCT, SearchConfig
from torchslim.errors import ConfigError
from torchslim.prune.depth import innermost
from torchslim.prune.truncation import removable_blocks

STEP_PCT = GRID_PCT
#: every method a drawn chain can hold (their behaviour versions name the study: see study.study_name)
SEARCHED_METHODS = (
    "prune.depth",
    "prune.structured",
    "prune.idap",
    "prune.unstructured",
    "distill.kd",
    "quant.static",
    "quant.qat",
)


def suggest_chain(trial: Any, search: SearchConfig) -> list[dict[str, dict]]:
    """The chain of ``trial`` as recipe entries (``[{method: settings}, ...]``), pruning first."""
    space = search.space
    parts = trial.suggest_categorical("chain", search.families()).split("+")
    steps: list[dict[str, dict]] = []
    if "depth" in parts:  # blocks go first; the step after it fine-tunes both (once), or this one does
        blocks = trial.suggest_int("blocks", space.depth.low, space.depth.high)
        steps.append({"prune.depth": {"blocks": blocks, "finetune_epochs": 0}})
        if "structured" not in parts and "unstructured" not in parts:
            kd = trial.suggest_categorical("finetune", space.finetune) == "kd"
            steps[-1]["prune.depth"]["finetune_epochs"] = 0 if kd else space.finetune_epochs
            if kd:
                steps.append({"distill.kd": {"epochs": space.finetune_epochs}})
    if "structured" in parts:
        st = space.structured
        importance = trial.suggest_categorical("importance", st.importance)
        amount = percent(trial, f"{st.amount}_pct", st.range.low, st.range.high)
        round_to = trial.suggest_categorical("round_to", st.round_to)
        width = None if round_to == 1 else round_to
        if importance == "idap":  # IDAP++ fine-tunes each of its steps by distillation itself
            steps.append({"prune.idap": {"macs_target": amount, "steps": 3, "finetune_epochs": 1, "round_to": width}})
        else:
            kd = trial.suggest_categorical("finetune", space.finetune) == "kd"
            settings = {st.amount: amount, "importance": importance, "round_to": width}
            steps.append({"prune.structured": settings | {"finetune_epochs": 0 if kd else space.finetune_epochs}})
            if kd:
                steps.append({"distill.kd": {"epochs": space.finetune_epochs}})
    if "unstructured" in parts:
        # fine-tuned with its masks attached: KD after it would regrow the zeroed weights
        sparsity = percent(trial, "sparsity_pct", space.sparsity.low, space.sparsity.high)
        steps.append({"prune.unstructured": {"sparsity": sparsity, "finetune_epochs": space.finetune_epochs}})
    if "static" in parts:
        steps.append({"quant.static": {}})
    if "qat" in parts:
        steps.append({"quant.qat": {"epochs": space.qat_epochs}})
    return steps


def percent(trial: Any, name: str, low: float, high: float) -> float:
    """A fraction drawn as a whole percent on the grid (``low`` and ``high`` rounded onto it)."""
    lo, hi = grid_bounds(low, high)
    return trial.suggest_int(name, lo, hi, step=STEP_PCT) / 100


def grid_bounds(low: float, high: float) -> tuple[int, int]:
    """The first and last whole percent of the grid between two fractions."""
    lo = max(STEP_PCT, round(100 * low / STEP_PCT) * STEP_PCT)
    return lo, max(lo, round(100 * high / STEP_PCT) * STEP_PCT)


def fit_to_model(search: SearchConfig, model: nn.Module, shape: tuple[int, ...]) -> tuple[SearchConfig, str | None]:
    """The space as this model allows it: depth chains only where it has blocks to remove, and no more
    blocks than it has; with a line saying what was narrowed (None when nothing was)."""
    if not search.space.has_depth:
        return search, None
    blocks = len(innermost(removable_blocks(model, torch.zeros(1, *shape))))
    space = search.space
    if blocks == 0:
        chains = [f for f in space.chains if DEPTH not in f.split("+")]
        if not chains:
            raise ConfigError(
                f"{type(model).__name__} has no block prune.depth can remove (a shape-preserving element of a "
                "Sequential or ModuleList holding a conv or linear layer), and the space holds only depth chains"
            )
        line = f"{type(model).__name__} has no block to remove: the depth chains are left out"
        return search.model_copy(update={"space": space.model_copy(update={"chains": chains})}), line
    if space.depth.high <= blocks:
        return search, None
    depth = space.depth.model_copy(update={"low": min(space.depth.low, blocks), "high": blocks})
    line = f"{type(model).__name__} has {blocks} removable blocks: depth chains remove {depth.low}-{blocks}"
    return search.model_copy(update={"space": space.model_copy(update={"depth": depth})}), line
