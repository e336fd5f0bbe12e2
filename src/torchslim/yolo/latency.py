"""Every checkpoint of a detector run timed side by side, per image size, batch size and runtime.

The speedups of seed 003 are ratios; on a shared machine they are only fair when both sides are
timed together. Each image size is one interleaved session over all checkpoints (see
torchslim.measurement.side_by_side). PyTorch times the Conv+BN-fused model, as Ultralytics deploys it; ONNX
Runtime gets the exported graph (it fuses BN itself).
"""

from __future__ import annotations

import copy
import hashlib
import json

from torch import nn

from torchslim.artifacts import stored_artifact
from torchslim.config.detect import DetectRunConfig
from torchslim.measurement.side_by_side import first_variants, side_by_side
from torchslim.measurement.timing import TimingConfig
from torchslim.provenance import provenance
from torchslim.store import ResultRow, Store
from torchslim.ui import console
from torchslim.yolo.artifact import Predictions, load_detector


def latency_target(cfg: DetectRunConfig, rows: list[ResultRow]) -> str:
    """Names the exact checkpoints and settings, so a rerun stage gives a new measurement."""
    m = cfg.measure
    ident = sorted((r.config_hash, r.method_chain, r.created_at) for r in rows)
    digest = hashlib.sha1(
        json.dumps([ident, m.imgsz, m.batch_sizes, m.runtimes, m.rounds, m.min_seconds]).encode()
    ).hexdigest()[:16]
    return f"detect-latency:{cfg.name}:{digest}"


def deployable(model: nn.Module) -> nn.Module:
    fused = copy.deepcopy(model).eval()
    fused.fuse(verbose=False)
    return Predictions(fused).eval()


def compare_detectors(cfg: DetectRunConfig, rows: list[ResultRow], store: Store) -> dict | None:
    """{(chain, runtime, imgsz, batch): timing dict}, measured once per set of checkpoints and stored."""
    target = latency_target(cfg, rows)
    if hits := store.benchmarks(target):
        return stored_latency(hits[-1])
    m = cfg.measure
    timed = [r for r in rows if r.method_chain != "baseline"]  # "finetune" is the 0 % reference
    models = {r.method_chain: deployable(load_detector(stored_artifact(r).model_path)[0]) for r in timed}
    timing = TimingConfig(warmup_runs=1, warmup_seconds=0.2, min_runs=3, min_seconds=m.min_seconds, rounds=m.rounds)
    out = []
    for size in m.imgsz:
        console.print(
            f"[bold]time[/bold]  {len(models)} checkpoints side by side at imgsz {size}, batch "
            f"{', '.join(map(str, m.batch_sizes))}, {' and '.join(m.runtimes)} (interleaved rounds)"
        )
        lat = first_variants(
            side_by_side(models, (3, size, size), m.batch_sizes, tuple(m.runtimes), timing, cfg.threads)
        )
        out += [
            {
                "chain": chain,
                "runtime": rt,
                "imgsz": size,
                "batch_size": b,
                **t.as_dict(),
                "median_ms": t.median_s * 1e3,
            }
            for (chain, rt, b), t in lat.items()
        ]
    result = {"latency": out, "threads": cfg.threads}
    store.put_benchmark(
        target, {"chains": sorted(models), "imgsz": m.imgsz, "batch_sizes": m.batch_sizes}, result, provenance()
    )
    return stored_latency({"result": result})


def stored_latency(hit: dict) -> dict:
    return {(x["chain"], x["runtime"], x["imgsz"], x["batch_size"]): x for x in hit["result"]["latency"]}
