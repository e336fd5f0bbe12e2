"""Seed 003 on the synthetic detection data: YOLO11n pruned at 5-75 %, fine-tuned, validated, timed.

Usage: python benchmarks/yolo11n_prune.py [--force] [key=value overrides]   (or `make bench-yolo`)
Runs configs/yolo/yolo11n_prune.yaml (stages already in the store are reused), then checks:
- at 50 % pruning, the ONNX Runtime speedup over the unpruned reference at imgsz 640, batch 4 is >= 1.8x;
- at 30 %, mAP50-95 is within 0.05 of the unpruned model fine-tuned for the same epochs;
- the 30 % checkpoint, reloaded and validated in a fresh process under a socket guard, gives the same mAP
  and attempts no network connection;
and writes the seed-003 tables and those checks into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from _common import ROOT, MachineWatch, write_section

from torchslim.artifacts import stored_artifact
from torchslim.report.document import Section
from torchslim.store import Store
from torchslim.task_kinds import load_recipe

CONFIG = "configs/yolo/yolo11n_prune.yaml"
GUARD = "from torchslim.yolo.offline import refuse_network\nATTEMPTS = refuse_network()\n"


def reload_check(cfg, row, data_yaml) -> dict:
    """Validate a saved checkpoint in a fresh process with every socket refused."""
    code = GUARD + (
        "import json\nfrom pathlib import Path\nfrom torchslim.yolo.offline import ultralytics\n"
        f"ultralytics({str(cfg.run_dir / 'ultralytics')!r})\n"
        "from torchslim.yolo.artifact import load_detector\nfrom torchslim.yolo.engine import TrainSettings, validate\n"
        f"m, _ = load_detector(Path({str(stored_artifact(row).model_path)!r}))\n"
        f"s = TrainSettings(data={str(data_yaml)!r},"
        f" imgsz={cfg.train.imgsz}, batch={cfg.train.batch})\n"
        f"print(json.dumps(validate(m, s, Path({str(cfg.run_dir / 'reload-check')!r})) | {{'attempts': ATTEMPTS}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from torchslim.executors.choice import ExecutorChoice
    from torchslim.latency_comparison import comparison_entries
    from torchslim.measurement.ratio import verdict_text
    from torchslim.report.detection import build, latencies, level_of, speedup_interval, timed_as
    from torchslim.task_kinds.detection import expand_detect, run
    from torchslim.yolo.work import detection_data

    os.chdir(ROOT)
    args = [a for a in sys.argv[1:] if a != "--force"]
    cfg = load_recipe(CONFIG, args)
    watch = MachineWatch(cfg.threads or os.cpu_count() or 1)
    t0 = time.perf_counter()
    rows = run(cfg, CONFIG, "--force" in sys.argv, ExecutorChoice())
    wall = time.perf_counter() - t0
    store = Store(cfg.store)
    lat = latencies(comparison_entries(store, rows, cfg.measure), rows)
    ref = next(r for r in rows if timed_as(r) == "finetune")
    by_level = {level_of(r): r for r in rows if r.method_chain != "baseline" and r is not ref}

    checks = []
    half, p30 = by_level.get(0.5), by_level.get(0.3)
    key_ref = ("finetune", "onnxruntime", 640, 4)
    key_half = (half.method_chain if half else "", "onnxruntime", 640, 4)
    if half and key_ref in lat and key_half in lat:
        interval = speedup_interval(lat, half.method_chain, "onnxruntime", 640, 4)
        said = verdict_text(interval, 1.8) if interval else "inconclusive (fewer than 6 rounds: no interval)"
        checks.append(
            f"- 50 % pruning, ONNX Runtime, imgsz 640, batch 4: **{interval.text() if interval else 'no interval'}** "
            f"({lat[key_ref]['median_ms']:.1f} ms -> {lat[key_half]['median_ms']:.1f} ms medians; "
            f"target >= 1.8x: {said})."
        )
    if p30:
        gap = ref.metrics["map50_95"] - p30.metrics["map50_95"]
        checks.append(
            f"- 30 % pruning, mAP50-95 **{p30.metrics['map50_95']:.3f}** against **{ref.metrics['map50_95']:.3f}** "
            f"for the unpruned model fine-tuned the same {ref.metrics['epochs']} epochs: gap {gap:+.3f} "
            f"(target <= 0.05: {'met' if gap <= 0.05 else 'NOT met'})."
        )
        again = reload_check(cfg, p30, detection_data(expand_detect(cfg, CONFIG)[0]).yaml)
        same = (
            abs(again["map50_95"] - p30.metrics["map50_95"]) < 1e-9
            and abs(again["map50"] - p30.metrics["map50"]) < 1e-9
        )
        checks.append(
            f"- The 30 % checkpoint reloaded in a fresh process (torch.load weights_only=True) and validated "
            f"under a socket guard: mAP50 {again['map50']:.3f}, mAP50-95 {again['map50_95']:.3f} "
            f"({'identical to' if same else 'DIFFERENT from'} the stored values); network attempts: "
            f"{len(again['attempts'])}."
        )
    doc = build(cfg, rows, lat, CONFIG)
    tables = [b for s in doc.sections if s.title.startswith("Pruning and benchmark") for b in s.blocks]
    body = ["## YOLO11n pruning on synthetic detection data (seed 003's table, complete)", "", doc.intro, ""]
    for t in tables:
        body += [f"*{t.title}*", "", t.markdown(), ""]
    latency = [b for s in doc.sections if s.title == f"Latency, imgsz {max(cfg.measure.imgsz)}" for b in s.blocks]
    body += [f"Median latency and p10-p90 spread behind the speedups at imgsz {max(cfg.measure.imgsz)} (ms):", ""]
    for t in latency:
        body += [f"*{t.title}*", "", t.markdown(), ""]
    dyn = next(
        b for s in doc.sections if isinstance(s, Section) and s.title.startswith("Pruning dynamics") for b in s.blocks
    )
    body += ["Per-step dynamics (validated after each step's fine-tuning):", "", dyn.markdown(), ""]
    body += [
        "Checks:",
        "",
        *checks,
        "",
        f"Prune % is the fraction of channels removed from every prunable group (Torch-Pruning pruning_ratio); "
        f"FLOPs at imgsz 640. Speedups: all checkpoints timed side by side, {cfg.measure.rounds} interleaved rounds, "
        f"the median of the per-round ratios with its 95 % interval. "
        f"Full report (imgsz {min(cfg.measure.imgsz)} latencies too): {cfg.run_dir}/report.md. Training, "
        f"pruning and validating all stages took {sum(r.metrics['wall_seconds'] for r in rows) / 60:.1f} min when "
        f"computed; this invocation {wall / 60:.1f} min (stages and timings already in the store are reused).",
        "",
        watch.stop().text(),
    ]
    write_section("yolo11n-prune", "\n".join(body))
    print("\n".join(checks))


if __name__ == "__main__":
    main()
