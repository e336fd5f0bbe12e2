"""``torchslim sensitivity``: per-group pruning sensitivity of a recipe's trained baselines.

Baselines come from the store (trained first if missing, exactly as ``torchslim run`` would), so
the analysis always describes the same model that the recipe's compression rows start from.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from torchslim.artifacts import stored_artifact
from torchslim.config import RunConfig
from torchslim.data.cache import DatasetCache
from torchslim.errors import ConfigError
from torchslim.models import load_model
from torchslim.prune.sensitivity import SensitivityConfig, SensitivityReport, analyze
from torchslim.report.sensitivity import write_sensitivity
from torchslim.runner import run_tasks
from torchslim.tasks import expand
from torchslim.ui import console, step_progress


def run_sensitivity(
    cfg: RunConfig, scfg: SensitivityConfig, source: str = "", seeds: list[int] | None = None
) -> list[tuple[SensitivityReport, dict[str, Path]]]:
    wanted = seeds or cfg.seeds[:1]
    unknown = sorted(set(wanted) - set(cfg.seeds))
    if unknown:
        raise ConfigError(
            f"--seeds {' '.join(map(str, unknown))}: not a seed of this recipe; its seeds are "
            f"{', '.join(map(str, cfg.seeds))} (add one with seeds=[...])"
        )
    tasks = [t for t in expand(cfg, source) if t.chain is None and t.seed in wanted]
    ctx = DatasetCache()
    store = run_tasks(cfg, tasks, ctx=ctx)
    out = []
    for task in tasks:
        row = store.get(task.key)
        model, spec = load_model(stored_artifact(row).model_path)
        data = ctx.dataset(task.dataset)
        console.print(f"[bold]sensitivity[/bold] {escape(task.describe())}")
        with step_progress("sensitivity") as bar:
            rep = analyze(model, data, spec, scfg, progress=lambda root, r: bar.advance(f"{root} @ {r:g}"))
        rep.model = task.model.label
        stem = f"{task.model.label.replace(':', '-')}__seed{task.seed}"
        title = f"{task.model.label} on {task.dataset.name}, seed {task.seed}"
        files = write_sensitivity(rep, cfg.run_dir / "sensitivity", stem, title)
        console.print(f"      table {escape(str(files['markdown']))}  plot {escape(str(files['plot']))}")
        out.append((rep, files))
    return out
