"""Every run of a report, and the machine and software that produced them (seed 002's hardware section)."""

from __future__ import annotations

from torchslim.report.tables import Table
from torchslim.store import ResultRow


def runs_table(rows: list[ResultRow]) -> Table:
    headers = [
        "Model",
        "Method",
        "Seed",
        "Top-1 (%)",
        "Top-5 (%)",
        "Loss",
        "Time (s)",
        "ONNX parity",
        "Latency spread (p10–p90)",
        "Threads",
        "Config hash",
    ]
    body = []
    for r in sorted(rows, key=lambda r: (r.model, r.method_chain != "baseline", r.method_chain, r.seed)):
        m = r.metrics
        seconds = m.get("train_seconds", m.get("compress_seconds", 0.0))
        parity = m.get("parity")
        parity_cell = (
            "—"
            if not parity
            else (f"ok ({parity['max_abs_diff']:.1e})" if parity["ok"] else f"FAILED ({parity['max_abs_diff']:.1e})")
        )
        spread = (
            ", ".join(
                f"{x['runtime']} b{x['batch_size']} {100 * x['spread']:.0f}%" + (" NOISY" if x["noisy"] else "")
                for x in m.get("latency", [])
            )
            or "—"
        )
        body.append(
            [
                r.model,
                r.method_chain,
                r.seed,
                f"{m['top1']:.2f}",
                f"{m['top5']:.2f}",
                f"{m['loss']:.4f}",
                f"{seconds:.1f}",
                parity_cell,
                spread,
                m["threads"],
                r.config_hash,
            ]
        )
    return Table(headers, body, "llrrrrrllrl")


def hardware_lines(rows: list[ResultRow]) -> str:
    """The machine of the latest run, and every distinct machine or commit if the runs span several."""
    latest = max(rows, key=lambda r: r.created_at)
    hw, versions = latest.hardware, latest.versions
    gpu = hw.get("gpu")
    lines = [
        f"- **CPU**: {hw['cpu_model']} ({hw['physical_cores']} physical / {hw['logical_cores']} logical cores; "
        f"ISA: {', '.join(hw['isa']) or 'none of note'})",
        f"- **Memory**: {hw['memory_gib']} GiB",
        f"- **GPU**: {gpu['name']} (driver {gpu.get('driver')}, CUDA {gpu['cuda']})"
        if gpu
        else "- **GPU**: none (CPU run)",
        "- **Versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"- **Git commit**: `{latest.git_commit}`",
    ]
    commits = sorted({r.git_commit for r in rows})
    cpus = sorted({r.hardware.get("cpu_model", "?") for r in rows})
    if len(commits) > 1:
        lines.append(f"- **Note**: these runs span {len(commits)} commits: {', '.join(f'`{c[:10]}`' for c in commits)}")
    if len(cpus) > 1:
        lines.append(f"- **Note**: these runs span {len(cpus)} CPU models: {', '.join(cpus)}")
    return "\n".join(lines)
