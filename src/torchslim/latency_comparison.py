"""After a run: every artifact of a model timed side by side, so the report's speedups are fair.

Each task measures its latency when it finishes, minutes apart from the others; on a shared
machine those minutes can differ in load by more than the effect being measured. The comparison
loads every artifact of one model and seed and times them in one process, in interleaved rounds
(``measure.compare``), and stores the result; the report then takes latency from it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from torch import nn

from torchslim.artifacts import relocated, stored_artifact, with_absolute_folder
from torchslim.config import MeasureConfig
from torchslim.measurement.side_by_side import side_by_side
from torchslim.measurement.timing import TimingConfig
from torchslim.models import load_model
from torchslim.provenance import provenance
from torchslim.runtimes.deployed import OnnxModel
from torchslim.store import ResultRow, Store
from torchslim.tasks import Task
from torchslim.ui import console

#: interleaved rounds of the side-by-side comparison: a speedup's 95 % interval needs 6 at least
COMPARE_ROUNDS = 8


def comparison_target(
    rows: list[ResultRow],
    batch_sizes: list[int],
    runtimes: list[str],
    precisions: list[str] = ("fp32",),
    shapes: list[tuple[int, ...]] = (),
    rounds: int = COMPARE_ROUNDS,
) -> str:
    """Names the exact set of artifacts and settings: a new or rerun task gives a new comparison."""
    ident = sorted((r.config_hash, r.method_chain, r.seed, r.created_at) for r in rows)
    settings = [batch_sizes, runtimes] + ([list(precisions)] if list(precisions) != ["fp32"] else [])
    settings += [[list(x) for x in shapes]] if shapes else []  # named input shapes (a detector's image sizes)
    settings += [rounds] if rounds != COMPARE_ROUNDS else []
    digest = hashlib.sha1(json.dumps([ident, *settings]).encode()).hexdigest()[:16]
    return f"compare:{rows[0].run_name}:{rows[0].model}:seed{rows[0].seed}:{digest}"


def measure_target(rows: list[ResultRow], m: MeasureConfig) -> str:
    """The comparison target of ``rows`` under a recipe's ``measure:``."""
    return comparison_target(rows, m.batch_sizes, m.runtimes, m.precisions, m.timed_shapes(), m.rounds)


def load_artifact(row: ResultRow) -> nn.Module:
    """The artifact that ships: the ONNX file of INT8 and low-bit models, a detector's predictions with its
    Conv+BN fused (as Ultralytics deploys it), the torchslim model otherwise."""
    artifact = stored_artifact(row)
    if artifact.kind == "detector":
        from torchslim.yolo.artifact import deployable_detector  # Ultralytics: only where a detector is timed

        return deployable_detector(artifact.model_path)
    if artifact.kind == "onnx":
        return OnnxModel(artifact.onnx_path, nn.Identity(), "deployed")
    model, _ = load_model(artifact.model_path)
    if artifact.kind == "brevitas" and artifact.onnx_path is not None and artifact.onnx_path.exists():
        return OnnxModel(artifact.onnx_path, model, "qcdq")
    return model


def compare_run(cfg, tasks: list[Task], store: Store, exclusive) -> None:
    """Side-by-side latency of every artifact of each model (first seed), stored once per artifact set.
    ``exclusive`` (``executors.exclusive``) runs the timing: on the driver, or on a node of a Ray
    cluster held whole."""
    m = cfg.measure
    if not (m.latency and m.compare) or not tasks:
        return
    first_seed = tasks[0].seed
    for label in dict.fromkeys(t.model.label for t in tasks):
        keys = [t.key for t in tasks if t.model.label == label and t.seed == first_seed]
        rows = [r for k in keys if (r := store.get(k)) is not None]
        base = next((r for r in rows if r.method_chain == "baseline"), None)
        if base is None or len(rows) < 2:
            continue
        missing = [str(path) for r in rows if (path := stored_artifact(r).missing_file()) is not None]
        if missing:
            console.print(
                f"[dim]compare[/dim] skipped for {label}: {missing[0]} is gone "
                f"({len(missing)} artifact(s) missing); the report uses each task's own latency"
            )
            continue
        target = measure_target(rows, m)
        if store.benchmarks(target):
            continue
        shapes = m.timed_shapes()
        at = f"; input {', '.join('x'.join(map(str, x)) for x in shapes)}" if shapes else ""
        console.print(
            f"[bold]compare[/bold] {len(rows)} artifacts of {label} side by side "
            f"(batch {', '.join(map(str, m.batch_sizes))}{at}; {m.rounds} interleaved rounds)"
        )
        rows = [with_absolute_folder(r) for r in rows]
        result, where = exclusive(time_side_by_side, (rows, m), rows)
        result["where"] = where
        chains = sorted(r.method_chain for r in rows)
        store.put_benchmark(target, {"chains": chains, "seed": first_seed}, result, provenance())


def time_side_by_side(payload: tuple[list[ResultRow], MeasureConfig], root: Path | None) -> dict:
    """Every artifact of one model timed in interleaved rounds (its files read under ``root``, if given), at
    each input shape ``measure`` names (default: the baseline's own input), one session per shape."""
    rows, m = payload
    rows = [relocated(r, root) for r in rows]
    shapes = m.timed_shapes()
    if not shapes:
        base = next(r for r in rows if r.method_chain == "baseline")
        shapes = [load_model(stored_artifact(base).model_path)[1].shape]
    models = {r.method_chain: load_artifact(r) for r in rows}
    timing = TimingConfig(min_seconds=m.min_seconds, rounds=m.rounds)
    out = []
    for shape in shapes:
        lat = side_by_side(models, shape, m.batch_sizes, tuple(m.runtimes), timing, m.threads, tuple(m.precisions))
        out += [
            {
                "chain": chain,
                "runtime": rt,
                "provider": provider,
                "batch_size": b,
                "input_shape": list(shape),
                **t.as_dict(),
                "median_ms": t.median_s * 1e3,
                "rounds_ms": [x * 1e3 for x in t.rounds_s],
            }
            for (chain, rt, provider, b), t in lat.items()
        ]
    return {"latency": out, "threads": m.threads}


def comparison_entries(store: Store, rows: list[ResultRow], m: MeasureConfig) -> list[dict]:
    """The timings of the stored comparison of exactly these rows under ``measure`` (none: not timed yet)."""
    hits = store.benchmarks(measure_target(rows, m)) if rows else []
    return hits[-1]["result"]["latency"] if hits else []


def stored_comparison(store: Store, rows: list[ResultRow], m: MeasureConfig) -> dict | None:
    """{(chain, runtime, variant, batch): (median, p10, p90, per-round medians) in ms} of the comparison
    of exactly these rows, if stored (comparisons stored before rounds were kept have none; before
    variants were, the variant is '')."""
    if not rows:
        return None
    hits = store.benchmarks(measure_target(rows, m))
    if not hits:
        return None
    return {
        (x["chain"], x["runtime"], x.get("provider", ""), x["batch_size"]): (
            x["median_ms"],
            x["p10_s"] * 1e3,
            x["p90_s"] * 1e3,
            tuple(x.get("rounds_ms", ())),
        )
        for x in hits[-1]["result"]["latency"]
    }
