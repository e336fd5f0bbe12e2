"""Report figures (matplotlib, Agg backend): trade-offs with the Pareto frontier, ratio vs speedup, dynamics."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torchslim.report.entries import Entry, ModelGroup


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated by another (lower cost x and higher accuracy y), by rising x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def label_clusters(
    pts: Sequence[tuple[float, float]], labels: Sequence[str]
) -> list[tuple[tuple[float, float], list[str]]]:
    """Points within 8 % (x) and 6 % (y) of the spans share one annotation, so labels do not overprint."""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    dx, dy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    clusters: list[tuple[tuple[float, float], list[str]]] = []
    for (x, y), label in sorted(zip(pts, labels)):
        for (cx, cy), members in clusters:
            if abs(x - cx) <= 0.08 * dx and abs(y - cy) <= 0.06 * dy:
                members.append(label)
                break
        else:
            clusters.append(((x, y), [label]))
    return clusters


def tradeoff_plot(group: ModelGroup, cost: str, path: Path) -> Path | None:
    """Top-1 against MACs (``cost='macs'``) or against ONNX Runtime latency at the smallest batch."""
    batch = min(group.batch_sizes, default=1)
    pick = {
        "macs": (lambda e: e.mean("macs") / 1e6 if e.mean("macs") else None, "MACs per image (M)"),
        "latency": (lambda e: e.latency_ms("onnxruntime", batch), f"ONNX Runtime median latency, batch {batch} (ms)"),
    }[cost]
    entries = [e for e in group.measured if pick[0](e) is not None]
    if len(entries) < 2:
        return None
    pts = [(pick[0](e), e.top1.mean) for e in entries]
    title = f"{group.model} on {group.dataset}: accuracy vs {'MACs' if cost == 'macs' else 'latency'}"
    fig, ax = accuracy_front(
        pts, [e.label for e in entries], "measured", (pick[1], "top-1 (%), mean over seeds"), title
    )
    ax.legend(loc="lower right")
    return _save(fig, path)


def accuracy_front(pts, labels, kind: str, axes: tuple[str, str], title: str, joiner: str = "\n"):
    """Points of top-1 against a cost with their Pareto frontier and grouped labels: (figure, axes)."""
    front = pareto_front(pts)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="#4c72b0", zorder=3, label=kind)
    ax.plot(
        [pts[i][0] for i in front],
        [pts[i][1] for i in front],
        color="#dd8452",
        marker="o",
        zorder=4,
        label="Pareto frontier",
    )
    for (x, y), names in label_clusters(pts, labels):
        ax.annotate(joiner.join(names), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def ratio_speedup_plot(group: ModelGroup, path: Path) -> Path | None:
    batch = min(group.batch_sizes, default=1)
    series: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for e in group.measured:
        if not e.is_pruning or e.prune_fraction is None:
            continue
        for runtime in ("onnxruntime", "torch"):
            s = group.speedup(e, runtime, batch)
            if s is not None:
                ci = group.speedup_interval(e, runtime, batch)  # the 95 % interval, when timed side by side
                # with an interval, the point is its ratio (the median of the per-round ratios, as in the
                # table's cell): the ratio of the two medians can lie outside it
                s, lo, hi = (ci.ratio, ci.low, ci.high) if ci is not None else (s, s, s)
                series.setdefault((e.method, runtime), []).append((100 * e.prune_fraction, s, s - lo, hi - s))
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for (method, runtime), pts in sorted(series.items()):
        pts.sort()
        ax.errorbar(
            [p[0] for p in pts],
            [p[1] for p in pts],
            yerr=[[p[2] for p in pts], [p[3] for p in pts]],
            marker="o",
            capsize=3,
            label=f"{method}, {runtime}",
        )
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_xlabel("pruning ratio (%)")
    ax.set_ylabel(f"speedup vs original, batch {batch} (x; bars: 95 % interval)")
    ax.set_title(f"{group.model}: pruning ratio vs measured speedup")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def dynamics_plot(entry: Entry, path: Path) -> Path | None:
    steps = entry.dynamics
    if len(steps) < 2:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=100)
    x = [s["step"] for s in steps]
    for ax, (key, label, scale) in zip(
        axes.flat,
        [
            ("macs", "GFLOPs (2 x MACs)", 2e-9),
            ("params", "params (M)", 1e-6),
            ("top1", "top-1 (%)", 1.0),
            ("top5", "top-5 (%)", 1.0),
        ],
    ):
        ax.plot(x, [s[key] * scale for s in steps], marker="o")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{entry.model}: {entry.label}, per step")
    fig.tight_layout()
    return _save(fig, path)


def front_plot(
    pts: Sequence[tuple[float, float]],
    labels: Sequence[str],
    floor: float,
    pick: int | None,
    xlabel: str,
    title: str,
    path: Path,
) -> Path:
    """Top-1 against a cost for every trial of a search: the Pareto front, the accuracy floor of the
    budget, and the pick."""
    fig, ax = accuracy_front(pts, labels, "trial", (xlabel, "top-1 (%)"), title, joiner=" ")
    ax.axhline(floor, color="#c44e52", linestyle="--", linewidth=1, label="accuracy budget")
    if pick is not None:
        ax.scatter(
            [pts[pick][0]],
            [pts[pick][1]],
            s=160,
            facecolors="none",
            edgecolors="#2ca02c",
            linewidths=2,
            zorder=5,
            label="pick",
        )
    ax.legend(loc="lower right")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
