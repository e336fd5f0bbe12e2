"""Rich and markdown tables of a ``Measurement``: latency with spread, throughput and % of peak."""

from __future__ import annotations

from rich.table import Table

from torchslim.measurement.bench import Measurement
from torchslim.report.tables import human_count

HEADERS = [
    "runtime",
    "provider",
    "batch",
    "median ms",
    "p10–p90 ms",
    "spread",
    "img/s",
    "GFLOP/s",
    "% peak",
    "noise · speedup",
    "× vs baseline's fastest",
]


def latency_cells(
    m: Measurement, baseline: Measurement | None = None, intervals: dict | None = None, vs_fastest: dict | None = None
) -> list[list[str]]:
    """``intervals`` (side-by-side speedups with their 95 % interval) replace the plain ratio of the
    two measurements' medians, which were taken minutes apart. ``vs_fastest``: the same rounds read
    against the baseline's fastest deployment (the honest reference)."""
    speed = {k: f"{v:.2f}x" for k, v in m.speedups(baseline).items()} if baseline else {}
    speed |= {k: v.text() + (" within noise" if v.within_noise else "") for k, v in (intervals or {}).items()}
    rows = []
    for r in m.latency:
        key = (r.runtime, r.provider, r.batch_size)
        rows.append(
            [
                r.runtime,
                r.provider,
                str(r.batch_size),
                f"{r.median_ms:.3f}",
                f"{r.timing.p10_s * 1e3:.3f}–{r.timing.p90_s * 1e3:.3f}",
                f"{100 * r.timing.spread:.1f}%",
                f"{r.images_per_second:.1f}",
                f"{r.achieved_gflops:.1f}",
                peak_cell(r),
                ("NOISY " if r.timing.noisy else "") + speed.get(key, ""),
                vs_fastest[key].text() if vs_fastest and key in vs_fastest else "",
            ]
        )
    return rows


def peak_cell(r) -> str:
    """``41%``, or ``38% of int8`` for a row held to the INT8 or BF16 peak."""
    if not r.peak_gflops:
        return f"no {r.peak_precision} peak"
    return f"{r.pct_of_peak:.0f}%" + ("" if r.peak_precision == "fp32" else f" of {r.peak_precision}")


def summary_line(m: Measurement) -> str:
    c = m.complexity
    parts = [
        f"{m.target} at {'x'.join(map(str, m.input_shape))}",
        f"params {human_count(c.params)} ({100 * c.nonzero_fraction:.1f}% non-zero)",
        f"MACs {human_count(c.macs)}/image",
        f"weights {m.size.bytes / 1e6:.2f} MB (gzip {m.size.gzip_bytes / 1e6:.2f} MB)",
        f"threads {m.threads}",
    ]
    if m.peak_gflops is not None:  # measured only with latency
        others = ", ".join(f"{k} {v:.1f}" for k, v in m.peaks.items() if k != "fp32" and v)
        parts.append(f"matmul peak {m.peak_gflops:.1f} GFLOP/s" + (f" ({others})" if others else ""))
    if m.parity is not None:
        verdict = "ok" if m.parity.ok else "FAILED"
        parts.append(f"ONNX parity {verdict} (max |diff| {m.parity.max_abs_diff:.2e}, {m.parity.exporter})")
    return " · ".join(parts)


def rich_table(
    m: Measurement, baseline: Measurement | None = None, intervals: dict | None = None, vs_fastest: dict | None = None
) -> Table:
    table = Table()
    shown = len(HEADERS) if vs_fastest else len(HEADERS) - 1  # the reference column only with a baseline
    for h in HEADERS[:shown]:
        table.add_column(h, justify="left" if h in ("runtime", "provider") else "right")
    for cells in latency_cells(m, baseline, intervals, vs_fastest):
        table.add_row(*cells[:shown])
    return table
