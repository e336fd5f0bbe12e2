"""What a search leaves behind: the pick (artifact and recipe), the Pareto front (table, plot, HTML).

The pick is the feasible trial (top-1 within ``max_drop`` of the baseline) with the lowest cost; on
latency it is then re-timed side by side against the runner-up and the baseline with a longer
budget, and when the pick and the runner-up cannot be told apart the output says so.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from torchslim.artifacts import stored_artifact
from torchslim.config import RunConfig, to_yaml
from torchslim.config.search import SearchConfig
from torchslim.export.onnx import export_onnx
from torchslim.measurement.ratio import SpeedRatio
from torchslim.models import load_model
from torchslim.report.document import Document, Figure, Section, write_document
from torchslim.report.plots import front_plot, pareto_front
from torchslim.report.tables import Table
from torchslim.search.deployment import FastestDeployment
from torchslim.search.trials import COMPLETE, Judged, cost_cell, time_against
from torchslim.store import ResultRow
from torchslim.yaml_input import comment_safe

#: the final comparison of the pick, the runner-up and the baseline: up to this many seconds
FINAL_BUDGET_S = 60.0


@dataclass
class SearchResult:
    trials: list[Judged]
    front: list[int]  # trial numbers on the Pareto front (top-1 against cost), by rising cost
    pick: Judged | None
    runner_up: Judged | None
    rule: str
    baseline_top1: float
    folder: Path
    pick_vs_runner_up: SpeedRatio | None = None  # the runner-up's time over the pick's
    pick_speedup: SpeedRatio | None = None  # the baseline's time over the pick's, re-timed
    confirmed: dict[int, dict] = field(default_factory=dict)  # seed -> {baseline, pick, drop}
    files: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, ResultRow] = field(default_factory=dict)  # "base", "pick": their stored rows (seed of the trials)
    repeats: int = 0  # draws of a chain already judged, told its earlier result (not among the trials)
    deployment: "FastestDeployment | None" = None  # where the pick runs fastest (search.deployment)
    handed_over: bool = False  # the fastest and the next re-timed within noise: the more accurate is the pick


def choose(trials: list[Judged], search: SearchConfig) -> tuple[Judged | None, Judged | None, str]:
    """The feasible trial of lowest cost (ties: higher top-1), the next distinct chain, and the rule."""
    ok = sorted((t for t in trials if t.feasible(search.max_drop)), key=lambda t: (t.value, -t.top1))
    distinct = [t for i, t in enumerate(ok) if all(t.task_hash != u.task_hash for u in ok[:i])]
    what = {"macs": "fewest MACs", "size": "smallest artifact"}.get(search.objective) or (
        f"lowest {search.runtime} latency at batch {search.batch} (timed side by side with the baseline)"
    )
    rule = f"Picked: the {what} among the trials within {search.max_drop:g} points of the baseline's top-1."
    if search.runtime is not None:
        rule = rule[:-1] + "; of it and the next fastest, the more accurate when the two re-time within noise."
    if not distinct:
        return None, None, rule + " No trial met the budget: nothing was picked." + closest_text(trials, search)
    return distinct[0], (distinct[1] if len(distinct) > 1 else None), rule


def closest_text(trials: list[Judged], search: SearchConfig) -> str:
    """The trial that came nearest the budget, so the user knows how far off it is and what to loosen."""
    done = [t for t in trials if t.state == COMPLETE]
    if not done:
        return " No trial finished (every one was stopped early or failed): loosen max_drop or widen the margin."
    near = min(done, key=lambda t: (t.drop, t.value))
    return (
        f" The closest was trial {near.number}, {near.label}: top-1 {near.top1:.2f}% ({-near.drop:+.2f} points "
        f"against a budget of {search.max_drop:g}), {cost_cell(near, search)}."
    )


def front_of(trials: list[Judged]) -> list[int]:
    done = [t for t in trials if t.state == COMPLETE]
    return [done[i].number for i in pareto_front([(t.value, t.top1) for t in done])]


def retime(result: SearchResult, rows: dict[str, ResultRow], search: SearchConfig, threads: int | None) -> None:
    """Pick against runner-up and baseline, in one process, with the longer final budget. When the two
    cannot be told apart, the more accurate one is the pick: it leaves the most of the budget for the
    other seeds (the fastest by a hair is often the one that cut deepest)."""
    pairs = [("base", "pick")] + ([("base", "runner_up"), ("runner_up", "pick")] if "runner_up" in rows else [])
    ratios, _ = time_against(rows, pairs, search, threads, FINAL_BUDGET_S)
    result.pick_speedup = ratios[("base", "pick")]
    result.pick_vs_runner_up = ratios.get(("runner_up", "pick"))
    r, other = result.pick_vs_runner_up, result.runner_up
    if r is not None and other is not None and r.within_noise and other.top1 > result.pick.top1:
        result.pick, result.runner_up, result.handed_over = other, result.pick, True
        rows["pick"], rows["runner_up"] = rows["runner_up"], rows["pick"]
        result.pick_speedup, result.pick_vs_runner_up = ratios[("base", "runner_up")], r.inverse()


def recipe(cfg: RunConfig, pick: Judged) -> dict:
    """The search's config with the pick's chain as its only method, and no search section."""
    data = yaml.safe_load(to_yaml(cfg))
    data.pop("search", None)
    data["name"] = f"{cfg.name}_pick"
    data.pop("output_dir", None)
    data["methods"] = [pick.chain if len(pick.chain) > 1 else pick.chain[0]]
    return data


def write_pick(result: SearchResult, cfg: RunConfig, row: ResultRow, source: str) -> None:
    """pick/model.pt and pick/model.onnx (what ships), and recipe.yaml that reproduces the chain."""
    pick_dir = result.folder / "pick"
    pick_dir.mkdir(parents=True, exist_ok=True)
    artifact = stored_artifact(row)
    for path in (artifact.model_path, artifact.onnx_path):
        if path is not None and path.exists():
            shutil.copy2(path, pick_dir / path.name)
            result.files[path.name] = pick_dir / path.name
    if "model.onnx" not in result.files and artifact.model_path is not None:
        model, spec = load_model(artifact.model_path)
        export_onnx(model.eval(), torch.zeros(1, *spec.shape), pick_dir / "model.onnx")
        result.files["model.onnx"] = pick_dir / "model.onnx"
    path = result.folder / "recipe.yaml"
    pick = result.pick
    path.write_text(
        f"# torchslim run {comment_safe(str(path))}\n"
        f"# reproduces the pick of `torchslim search {comment_safe(source)}`: trial {pick.number}, "
        f"{comment_safe(pick.label)}, top-1 {pick.top1:.2f}% on seed {row.seed}\n"
        + yaml.safe_dump(recipe(cfg, pick), sort_keys=False)
    )
    result.files["recipe"] = path


def write_outputs(result: SearchResult, search: SearchConfig, formats, console=None) -> dict[str, Path]:
    """trials.json, front.png and report.md / report.html in the search folder."""
    folder = result.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trials.json").write_text(json.dumps([t.as_attrs() for t in result.trials], indent=1))
    done = [t for t in result.trials if t.state == COMPLETE]
    plot = None
    if done:
        plot = front_plot(
            [(t.value, t.top1) for t in done],
            [f"#{t.number}" for t in done],
            result.baseline_top1 - search.max_drop,
            [t.number for t in done].index(result.pick.number) if result.pick else None,
            cost_label(search),
            f"search: top-1 against {search.objective}",
            folder / "front.png",
        )
    doc = Document(f"Search: {search.objective} within {search.max_drop:g} points", summary(result, search), [])
    doc.sections.append(Section("Pareto front", [front_table(result, search)]))
    if plot is not None:
        doc.sections[-1].blocks.append(Figure(plot, "every finished trial; the line is the Pareto front"))
    doc.sections.append(Section("Every trial", [trials_table(result, search)]))
    written = write_document(doc, folder, formats, console)
    return {"trials": folder / "trials.json", **({"plot": plot} if plot else {}), **written}


def cost_label(search: SearchConfig) -> str:
    if search.objective == "macs":
        return "MACs per image"
    if search.objective == "size":
        return "artifact size (bytes)"
    return f"{search.runtime} latency at batch {search.batch}, relative to the baseline (side by side)"


def row_cells(t: Judged, search: SearchConfig, pick: Judged | None) -> list[str]:
    mark = " **pick**" if pick is not None and t.number == pick.number else ""
    return [
        f"{t.number}{mark}",
        t.label,
        f"{t.top1:.2f}" if t.top1 is not None else "—",
        f"{-t.drop:+.2f}" if t.drop is not None else "—",
        cost_cell(t, search),
        "yes" if t.feasible(search.max_drop) else ("no" if t.state == COMPLETE else t.state),
    ]


HEADER = ["Trial", "Chain", "Top-1 (%)", "Δ top-1", "Cost", "Within budget"]


def front_table(result: SearchResult, search: SearchConfig) -> Table:
    by = {t.number: t for t in result.trials}
    rows = [row_cells(by[n], search, result.pick) for n in result.front]
    return Table(
        _header(search), rows, "llrrrl", title="Pareto front: no other trial is both more accurate and cheaper"
    )


def trials_table(result: SearchResult, search: SearchConfig) -> Table:
    return Table(_header(search), [row_cells(t, search, result.pick) for t in result.trials], "llrrrl")


def _header(search: SearchConfig) -> list[str]:
    cost = {"macs": "MACs", "size": "Size"}.get(search.objective, "Latency, speedup vs baseline (95 % CI)")
    return [*HEADER[:4], cost, HEADER[5]]


def summary(result: SearchResult, search: SearchConfig) -> str:
    lines = [result.rule]
    pick = result.pick
    if pick is not None:
        lines.append(
            f"- Pick: trial {pick.number}, `{pick.label}`: top-1 {pick.top1:.2f}% against the baseline's "
            f"{result.baseline_top1:.2f}% ({-pick.drop:+.2f} points), {cost_cell(pick, search)}."
        )
        if result.pick_speedup is not None:
            lines.append(f"- Re-timed against the baseline: {result.pick_speedup.text()} faster.")
        if result.deployment is not None:
            lines.append(f"- Its fastest deployment: {result.deployment.text()}.")
        if result.pick_vs_runner_up is not None and result.runner_up is not None:
            r = result.pick_vs_runner_up
            verdict = (
                (
                    "the two are within noise, so the more accurate is the pick"
                    if result.handed_over
                    else "the two are within noise: either is as fast"
                )
                if r.within_noise
                else ("the pick is faster" if r.low > 1 else "the runner-up is faster on this re-timing")
            )
            lines.append(
                f"- Re-timed against the runner-up (trial {result.runner_up.number}, `{result.runner_up.label}`): "
                f"{r.text()} ({verdict})."
            )
        for seed, c in sorted(result.confirmed.items()):
            lines.append(
                f"- Seed {seed}: top-1 {c['pick']:.2f}% against its baseline's {c['baseline']:.2f}% "
                f"({-c['drop']:+.2f} points)."
            )
    n = {s: sum(t.state == s for t in result.trials) for s in ("complete", "pruned", "failed")}
    lines.append(
        f"- {len(result.trials)} trials: {n['complete']} finished, {n['pruned']} stopped early (below the budget "
        f"less {search.margin:g} points after their first fine-tuning epoch), {n['failed']} failed."
        + (
            f" The sampler also drew {result.repeats} chain(s) already judged; they were told the earlier "
            "result, not run or timed again, and are not counted."
            if result.repeats
            else ""
        )
    )
    return "\n".join(lines)
