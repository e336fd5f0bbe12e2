"""Seed 004's image-generation row: DCGAN on CIFAR-10, its compressed generators, FID in a named feature space.

Usage: python benchmarks/seed004_generation.py [CONFIG] [--report-only] [--workers N]
CONFIG defaults to configs/seed004/dcgan_cifar10.yaml. Runs it through the store (resumable from the last
finished epoch), then writes the section ``seed004-generation`` of docs/BENCHMARKS.md: the sanity checks
that say the metric means something (FID of the training images, of uniform noise and of an untrained
generator against the test split, in the same feature space), the generation table ``torchslim report``
builds, each task's wall time, and the issue's checks (pruned: >= 1.8x faster at b64 in its fastest
deployment and FID within +10 %; INT8: FID within +5 %). Tasks not in the store yet are named.
"""

from __future__ import annotations

import os
import sys
import time

import torch
from _common import ROOT, write_section

from torchslim.data.cache import DatasetCache
from torchslim.errors import Interrupted
from torchslim.generation.scoring import FeatureSpace, generate, real_features
from torchslim.measurement.fid import FeatureStats, frechet_distance
from torchslim.models import build_model
from torchslim.report.build import stored_groups
from torchslim.report.deployments import fastest_deployment, label, paired_ratio, speedup_cell
from torchslim.report.generation import generation_table
from torchslim.store import Store
from torchslim.task_kinds import kind_of, load_recipe
from torchslim.tasks import expand


def sanity_lines(cfg) -> list[str]:
    """FID of references that bracket a generator: real training images (low) and noise (high)."""
    data = DatasetCache().dataset(cfg.dataset)
    gen = cfg.generation
    space = FeatureSpace.load(gen)
    reference = FeatureStats.of(real_features(space, data.test.images))
    n = min(gen.samples, len(data.train))
    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:n]
    train = frechet_distance(FeatureStats.of(real_features(space, data.train.images[idx])), reference)
    noise = torch.rand(n, *data.test.images.shape[1:], generator=torch.Generator().manual_seed(0))
    noise_fid = frechet_distance(FeatureStats.of(space.features(noise)), reference)
    task = expand(cfg)[0]
    torch.manual_seed(0)
    untrained = build_model(task.model, task.input_spec(data)).eval()
    init_fid = frechet_distance(FeatureStats.of(space.features(generate(untrained, n, 0))), reference)
    return [
        f"- {n:,} training images against the {len(data.test):,} test images: **{train:.2f}** (two samples of the "
        "same distribution: the floor)",
        f"- {n:,} images of uniform noise: **{noise_fid:.2f}**",
        f"- {n:,} images of the generator at initialisation (seed 0): **{init_fid:.2f}**",
    ]


SPEED_GOAL = 1.8  # the pruned generator's, at half the MACs (seed 004: 2.0x)


def check_lines(group) -> list[str]:
    base = group.baseline
    out = []
    if base is None or not base.rows:
        return ["The trained generator is not in the store yet."]
    batch = 64
    ref = fastest_deployment(base, batch)
    fid0 = base.mean("fid")
    for e in group.measured:
        if e.is_baseline or e.mean("fid") is None:
            continue
        best = fastest_deployment(e, batch)
        quantized = any(s["name"].startswith("quant.") for s in e.steps)
        change = 100 * (e.mean("fid") / fid0 - 1)
        goal = 5.0 if quantized else 10.0
        verdict = "met" if change <= goal else "not met"
        line = f"- {e.label}: FID {e.mean('fid'):.2f} against {fid0:.2f} ({change:+.1f} %, goal ≤ +{goal:.0f} %: "
        line += f"**{verdict}**)"
        if ref and best:
            paired = paired_ratio(ref[1], best[1])
            line += f"; b{batch} in {label(*best[0])}: {speedup_cell(ref[1], best[1])} the original's fastest"
            line += f" ({label(*ref[0])})"
            if not quantized:  # the speed goal is the pruned generator's
                ratio = paired.ratio if paired else ref[1].ms / best[1].ms
                low = f", interval's low end {paired.low:.2f}x" if paired else ", unpaired: no interval"
                line += f" (goal ≥ {SPEED_GOAL}x: **{'met' if ratio >= SPEED_GOAL else 'not met'}**{low})"
        else:
            line += "; not timed"
        out.append(line)
    return out


def main() -> None:
    args = sys.argv[1:]
    config = next((a for a in args if a.endswith(".yaml")), "configs/seed004/dcgan_cifar10.yaml")
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
    os.chdir(ROOT)
    cfg = load_recipe(config)
    t0 = time.perf_counter()
    if "--report-only" not in args:
        from torchslim.executors.choice import ExecutorChoice

        try:
            kind_of(cfg).run(cfg, config, False, ExecutorChoice("local", workers))
        except Interrupted as exc:  # Ctrl-C or SIGTERM: one line, and no half-written section
            print(exc)
            sys.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - one line; the section below still names what is missing
            why = " ".join(str(exc).split())[:300]
            print(f"a task failed: {type(exc).__name__}: {why} (finished tasks are stored)")
    wall = time.perf_counter() - t0
    _, groups = stored_groups(cfg, Store(cfg.store), config)
    parts = [f"## Seed 004's image generation: {cfg.name}\n\nConfig `{config}`."]
    parts.append("### Does the metric mean something?\n\n" + "\n".join(sanity_lines(cfg)))
    for g in groups:
        parts.append("### Generation table\n\n" + generation_table(g, 64, kind_feature_label(g)).markdown())
        parts.append("### The issue's checks\n\n" + "\n".join(check_lines(g)))
        times = [wall_line(e.label, r, e.is_baseline) for e in g.entries for r in e.rows]
        parts.append("Wall time per task (training, or compression and distillation):\n\n" + "\n".join(times))
        waiting = [f"- {e.chain}" for e in g.entries if e.missing]
        if waiting:
            parts.append("Not in the store yet:\n\n" + "\n".join(waiting))
    parts.append(f"Wall time of this invocation: {wall / 60:.1f} min (stored tasks are not rerun); CPU only.")
    body = "\n\n".join(parts)
    write_section(f"seed004-generation-{cfg.name}", body)
    print(body)


def wall_line(label: str, row, is_baseline: bool) -> str:
    """A task's wall time. The GAN's is the sum of its epochs: its ``train_seconds`` covers only the last
    invocation, which resumed it from a checkpoint."""
    history = (row.metrics.get("gan_history") or []) if is_baseline else []
    if history:
        secs = sum(h["seconds"] for h in history)
        resumed = row.metrics.get("resumed_from_epoch")
        how = f", resumed from checkpoints (last from epoch {resumed})" if resumed else ""
        per = sorted(h["seconds"] for h in history)
        return (
            f"- {label}, seed {row.seed}: {secs / 3600:.2f} h for {len(history)} GAN epochs{how}; an epoch took "
            f"{per[0]:.0f}-{per[-1]:.0f} s (median {per[len(per) // 2]:.0f} s), some beside other jobs"
        )
    secs = row.metrics.get("train_seconds") if is_baseline else row.metrics.get("compress_seconds")
    return f"- {label}, seed {row.seed}: {secs / 60:.1f} min" if secs else f"- {label}: —"


def kind_feature_label(group) -> str:
    return next(
        (r.metrics["fid_features"] for e in group.entries for r in e.rows if "fid_features" in r.metrics), "FID"
    )


if __name__ == "__main__":
    main()
