"""``report.md`` for a run: mean ± std over seeds per model, every run, hardware and provenance."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from torchslim.config import RunConfig
from torchslim.report.stats import SeedStats
from torchslim.report.tables import human_count, markdown_table
from torchslim.store import ResultRow


def summary_table(rows: list[ResultRow], source: str) -> str:
    groups: dict[tuple[str, str, str], list[ResultRow]] = defaultdict(list)
    for r in rows:
        groups[(r.model, r.dataset, r.method_chain)].append(r)
    seeds = sorted({r.seed for r in rows})
    headers = ["Model", "Dataset", "Method", "Top-1 (%) mean ± std", *[f"Seed {s} (%)" for s in seeds],
               "Params", "Epochs", "Config"]
    body = []
    for (model, dataset, chain), group in groups.items():
        by_seed = {r.seed: r for r in group}
        stats = SeedStats(tuple(r.metrics["top1"] for r in sorted(group, key=lambda r: r.seed)))
        body.append([
            model, dataset, chain, stats.format(),
            *[f"{by_seed[s].metrics['top1']:.2f}" if s in by_seed else "not run" for s in seeds],
            human_count(group[0].metrics["params"]), group[0].metrics["epochs"], f"`{source}`" if source else "",
        ])
    return markdown_table(headers, body, "lllr" + "r" * len(seeds) + "rrl")


def runs_table(rows: list[ResultRow]) -> str:
    headers = ["Model", "Seed", "Split", "Top-1 (%)", "Top-5 (%)", "Loss", "Train time (s)", "Train img/s",
               "Threads", "Config hash"]
    body = [
        [r.model, r.seed, r.metrics["eval_split"], f"{r.metrics['top1']:.2f}", f"{r.metrics['top5']:.2f}",
         f"{r.metrics['loss']:.4f}", f"{r.metrics['train_seconds']:.1f}", f"{r.metrics['train_images_per_second']:.0f}",
         r.metrics["threads"], f"`{r.config_hash}`"]
        for r in sorted(rows, key=lambda r: (r.model, r.seed))
    ]
    return markdown_table(headers, body, "lrlrrrrrrl")


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
