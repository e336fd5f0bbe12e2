"""``report.md`` for a run: mean ± std over seeds per model, every run, hardware and provenance."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from torchslim.config import RunConfig
from torchslim.report.stats import SeedStats
from torchslim.report.tables import human_count, markdown_table
from torchslim.store import ResultRow


def _latency(row: ResultRow, runtime: str, batch: int = 1) -> float | None:
    hit = [r for r in row.metrics.get("latency", []) if r["runtime"] == runtime and r["batch_size"] == batch]
    return hit[0]["median_ms"] if hit else None


def _speedup_cell(base_ms: float | None, ms: float | None) -> str:
    """Speedup against the baseline; a compressed model that got slower is said so, not hidden."""
    if not base_ms or not ms:
        return "—"
    ratio = base_ms / ms
    return f"{ratio:.2f}x" + (" SLOWER than baseline" if ratio < 0.9 else "")


def _file_cell(m: dict) -> str:
    """Low-bit (Brevitas) models ship as their QCDQ ONNX file; their .pt keeps float training state."""
    if "file_bytes" not in m:
        return "not measured"
    if m.get("onnx_top1") is not None and m.get("onnx_bytes"):
        return f"{m['onnx_bytes'] / 1e6:.2f} (QCDQ ONNX)"
    return f"{m['file_bytes'] / 1e6:.2f}"


def _why_no_torch(row: ResultRow) -> str:
    """INT8 artifacts are ONNX files: PyTorch's CPU INT8 path is the deprecated torch.ao one."""
    return "n/a (ONNX INT8)" if str(row.artifacts.get("model", "")).endswith(".onnx") else "not measured"


def _median(values: list[float | None]) -> float | None:
    import statistics

    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _paired_delta(group: list[ResultRow], base_top1: dict[int, float]) -> str:
    """Mean of (method - baseline) over seeds that have both: a paired difference, seed by seed."""
    diffs = [r.metrics["top1"] - base_top1[r.seed] for r in group if r.seed in base_top1]
    return f"{sum(diffs) / len(diffs):+.2f}" if diffs else "no baseline"


def summary_table(rows: list[ResultRow], source: str) -> str:
    """One block per model: the baseline, then every method chain, as in seed 000's tables."""
    groups: dict[tuple[str, str], dict[str, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        groups[(r.model, r.dataset)][r.method_chain].append(r)
    seeds = sorted({r.seed for r in rows})
    headers = ["Model", "Method", "Top-1 (%) mean ± std", "Δ top-1 (paired)", *[f"Seed {s}" for s in seeds], "Params (non-zero)",
               "MACs", "File (MB)", "gzip (MB)", "torch ms (b1)", "ORT ms (b1)", "ORT speedup"]
    body = []
    for (model, _dataset), chains in groups.items():
        base = chains.get("baseline", [])
        base_top1 = {r.seed: r.metrics["top1"] for r in base}
        base_ort = _median([_latency(r, "onnxruntime") for r in base])
        for chain, group in sorted(chains.items(), key=lambda kv: (kv[0] != "baseline", kv[0])):
            by_seed = {r.seed: r for r in group}
            stats = SeedStats(tuple(r.metrics["top1"] for r in sorted(group, key=lambda r: r.seed)))
            first = group[0].metrics
            torch_ms = _median([_latency(r, "torch") for r in group])
            ort_ms = _median([_latency(r, "onnxruntime") for r in group])
            body.append([
                model, chain, stats.format(),
                _paired_delta(group, base_top1) if chain != "baseline" else "—",
                *[f"{by_seed[s].metrics['top1']:.2f}" if s in by_seed else "not run" for s in seeds],
                f"{human_count(first['params'])} ({human_count(first.get('nonzero_params', first['params']))})",
                human_count(first["macs"]) if "macs" in first else "not measured",
                _file_cell(first),
                f"{first['file_gzip_bytes'] / 1e6:.2f}" if "file_gzip_bytes" in first else "not measured",
                f"{torch_ms:.3f}" if torch_ms is not None else _why_no_torch(group[0]),
                f"{ort_ms:.3f}" if ort_ms is not None else "not measured",
                _speedup_cell(base_ort, ort_ms),
            ])
    note = (f"Config: `{source}`. " if source else "") + (
        "Latency: median over repeated runs at batch 1, threads fixed (see every run below); "
        "speedup = baseline ONNX Runtime median / this one, same batch. File = the saved artifact "
        "(sparse-encoded where weights are zero)."
    )
    return note + "\n\n" + markdown_table(headers, body, "llrr" + "r" * len(seeds) + "rrrrrrr")


def runs_table(rows: list[ResultRow]) -> str:
    headers = ["Model", "Method", "Seed", "Top-1 (%)", "Top-5 (%)", "Loss", "Time (s)", "ONNX parity",
               "Latency spread (p10–p90)", "Threads", "Config hash"]
    body = []
    for r in sorted(rows, key=lambda r: (r.model, r.method_chain != "baseline", r.method_chain, r.seed)):
        m = r.metrics
        seconds = m.get("train_seconds", m.get("compress_seconds", 0.0))
        parity = m.get("parity")
        parity_cell = "—" if not parity else (f"ok ({parity['max_abs_diff']:.1e})" if parity["ok"]
                                             else f"FAILED ({parity['max_abs_diff']:.1e})")
        spread = ", ".join(f"{x['runtime']} {100 * x['spread']:.0f}%" + (" NOISY" if x["noisy"] else "")
                           for x in m.get("latency", [])) or "—"
        body.append([r.model, r.method_chain, r.seed, f"{m['top1']:.2f}", f"{m['top5']:.2f}", f"{m['loss']:.4f}",
                     f"{seconds:.1f}", parity_cell, spread, m["threads"], f"`{r.config_hash}`"])
    return markdown_table(headers, body, "llrrrrrllrl")


def hardware_section(rows: list[ResultRow]) -> str:
    hw, versions = rows[-1].hardware, rows[-1].versions
    gpu = hw.get("gpu")
    lines = [
        f"- **CPU**: {hw['cpu_model']} ({hw['physical_cores']} physical / {hw['logical_cores']} logical cores; "
        f"ISA: {', '.join(hw['isa']) or 'none of note'})",
        f"- **Memory**: {hw['memory_gib']} GiB",
        f"- **GPU**: {gpu['name']} (driver {gpu.get('driver')}, CUDA {gpu['cuda']})" if gpu else "- **GPU**: none (CPU run)",
        f"- **Versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"- **Git commit**: `{rows[-1].git_commit}`",
    ]
    return "\n".join(lines)


def write_report(cfg: RunConfig, rows: list[ResultRow], source: str = "") -> Path:
    path = cfg.run_dir / "report.md"
    if not rows:
        path.write_text(f"# {cfg.name}\n\nNo finished runs in the store yet.\n")
        return path
    split = rows[0].config.get("split", "")
    text = [
        f"# {cfg.name}",
        "",
        f"Command: `torchslim run {source or '<config>'}` · seeds {', '.join(map(str, cfg.seeds))} · "
        f"top-1 on the {rows[0].metrics['eval_split']} split ({split}). "
        "Std is the sample standard deviation over seeds.",
        "",
        "## Summary",
        "",
        summary_table(rows, source),
        "",
        "## Every run",
        "",
        runs_table(rows),
        "",
        "## Hardware",
        "",
        hardware_section(rows),
        "",
    ]
    path.write_text("\n".join(text))
    return path
