"""Seed 001's bar charts as inline SVG for the HTML report, drawn by matplotlib to scale.

The terminal and markdown keep the text bars of :mod:`torchslim.report.charts`; a browser gets real
bars, with negative values drawn left of zero, and text kept as text (searchable, no glyph paths).
Each bar carries an id (``<chart>-bar-<i>``, ``<chart>-bar-<i>-<j>`` for pairs) so a test can check
the drawn widths against the values. The same chart gives the same SVG, byte for byte.
"""

from __future__ import annotations

import hashlib
import io

from torchslim.report.charts import BarChart, PairedBarChart

COLOURS = ("#4c72b0", "#dd8452")
RC = {
    "svg.fonttype": "none",  # text as <text>, not glyph outlines
    "svg.hashsalt": "torchslim",  # stable clip-path ids: the same chart, the same bytes
    "text.parse_math": False,  # a '$' in a label is a dollar sign
    "font.size": 9,
}


def chart_svg(chart: BarChart | PairedBarChart) -> str:
    """The ``<svg>`` element of ``chart`` (no XML prolog), ready to inline in HTML."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    prefix = "c" + hashlib.sha1(repr(chart).encode()).hexdigest()[:8]
    with matplotlib.rc_context(RC):
        if isinstance(chart, PairedBarChart):
            fig = _paired(Figure, chart, prefix)
        else:
            fig = _bars(Figure, chart, prefix)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _size(rows: int) -> tuple[float, float]:
    return 7.5, 0.7 + 0.3 * rows


def _bars(Figure, chart: BarChart, prefix: str):
    fig = Figure(figsize=_size(len(chart.labels)))
    ax = fig.subplots()
    values = [v if v is not None else 0.0 for v in chart.values]
    bars = ax.barh(range(len(values)), values, color=COLOURS[0], height=0.6)
    top = max((abs(v) for v in values), default=0.0) or 1.0
    for i, (bar, v) in enumerate(zip(bars, chart.values)):
        bar.set_gid(f"{prefix}-bar-{i}")
        said = "not measured" if v is None else f"{chart.fmt.format(v)}{chart.unit}"
        ax.text((v or 0.0) + 0.01 * top, i, said, va="center", color="#666" if v is None else "#222")
    _frame(ax, chart.title, chart.labels, top)
    return fig


def _paired(Figure, chart: PairedBarChart, prefix: str):
    labels = [label for label, *_ in chart.items]
    fig = Figure(figsize=_size(2 * len(labels)))
    ax = fig.subplots()
    top = max((abs(v) for _, *pair in chart.items for v in pair if v is not None), default=0.0) or 1.0
    for j, name in enumerate(chart.names):
        ys = [i + (j - 0.5) * 0.38 for i in range(len(labels))]
        values = [pair[j] if pair[j] is not None else 0.0 for _, *pair in chart.items]
        bars = ax.barh(ys, values, height=0.36, color=COLOURS[j], label=name)
        for i, (bar, (_, *pair)) in enumerate(zip(bars, chart.items)):
            bar.set_gid(f"{prefix}-bar-{i}-{j}")
            v = pair[j]
            said = "not measured" if v is None else f"{chart.fmt.format(v)}{chart.unit}"
            x = v if v is not None else 0.0
            ax.text(x + (0.01 if x >= 0 else -0.01) * top, ys[i], said, va="center", ha="left" if x >= 0 else "right")
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.08), ncols=2, frameon=False)
    _frame(ax, chart.title, labels, top, low=min(0.0, *(v for _, *p in chart.items for v in p if v is not None)))
    return fig


def _frame(ax, title: str, labels: list[str], top: float, low: float = 0.0) -> None:
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(low - (0.15 * top if low < 0 else 0.0), 1.18 * top)
    ax.set_title(title, loc="left", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)
