"""Sensitivity analysis output: a markdown table, a matplotlib plot and the raw JSON."""

from __future__ import annotations

import json
from pathlib import Path

from torchslim.prune.sensitivity import GroupSensitivity, SensitivityReport, SensitivityRow
from torchslim.report.tables import markdown_table


def _cell(row) -> str:
    if row.channels_removed == 0:
        return "not pruned"
    return f"{row.top1:.2f} ({-row.drop:+.2f}, -{row.channels_removed} ch)"


def sensitivity_markdown(rep: SensitivityReport, title: str) -> str:
    ratios = rep.config["ratios"]
    limit = rep.config["max_drop"]
    headers = [
        "Group (root layer)",
        "Coupled layers",
        "Channels",
        *[f"ratio {r:g}" for r in ratios],
        f"Suggested ratio (drop <= {limit:g})",
    ]
    body = []
    for g in sorted(rep.groups, key=lambda g: -max((r.drop for r in g.rows), default=0.0)):
        by_ratio = {r.ratio: r for r in g.rows}
        suggestion = f"{g.suggested_ratio(limit):g}" if g.prunable else "not prunable"
        body.append([f"`{g.root}`", len(g.layers), g.channels, *[_cell(by_ratio[r]) for r in ratios], suggestion])
    return (
        f"## Pruning sensitivity: {title}\n\n"
        f"Each coupled group (Torch-Pruning dependency graph) is pruned alone on a copy of the trained model "
        f"with `{rep.config['importance']}` importance, without fine-tuning, and evaluated on "
        f"{rep.eval_images} evaluation images. Baseline top-1 {rep.baseline_top1:.2f} %. Cells: top-1 (change in "
        "points, channels removed). Groups are sorted most sensitive first; 'not pruned' means the ratio removed "
        "no channel (the group is too small), which is not evidence of robustness.\n\n"
        + markdown_table(headers, body, "llr" + "r" * len(ratios) + "r")
        + "\n"
    )


def sensitivity_plot(rep: SensitivityReport, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # more groups than the default 10 colours
    for g in rep.groups:
        pts = [(0.0, rep.baseline_top1)] + [(r.ratio, r.top1) for r in g.rows if r.channels_removed > 0]
        if len(pts) > 1:
            ax.plot(*zip(*pts), marker="o", linewidth=1.2, label=g.root)
    ax.axhline(
        rep.baseline_top1 - rep.config["max_drop"],
        color="grey",
        linestyle="--",
        linewidth=1,
        label=f"baseline - {rep.config['max_drop']:g} pt",
    )
    ax.set_xlabel("fraction of the group's channels removed")
    ax.set_ylabel("top-1 (%) without fine-tuning")
    ax.set_title(f"Pruning sensitivity per layer group\n{title}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report_from_json(path: Path) -> SensitivityReport:
    """Rebuild a stored analysis (to redraw its table or plot without recomputing it)."""
    raw = json.loads(Path(path).read_text())
    groups = [
        GroupSensitivity(g["root"], g["layers"], g["channels"], [SensitivityRow(**r) for r in g["rows"]])
        for g in raw["groups"]
    ]
    return SensitivityReport(raw["model"], raw["baseline_top1"], raw["eval_images"], raw["config"], groups)


def write_sensitivity(rep: SensitivityReport, folder: Path, stem: str, title: str) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{stem}.md"
    png = sensitivity_plot(rep, folder / f"{stem}.png", title)
    md.write_text(sensitivity_markdown(rep, title) + f"\n![sensitivity plot]({png.name})\n")
    js = folder / f"{stem}.json"
    js.write_text(json.dumps(rep.as_dict(), indent=2))
    return {"markdown": md, "plot": png, "json": js}
