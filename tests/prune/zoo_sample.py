"""Issue 37's test of generality: N models drawn at random from the whole timm catalogue, through the
public API, with the pass rate and every failure's cause.

``python -m tests.prune.zoo_sample --n 40 --seed 7`` (``make test-zoo-sample N=40 SEED=7``; without a
seed one is drawn and printed, so any run can be repeated). Each result records the commit under test;
``--resume --log FILE`` takes the models a seed already has at this commit from FILE, so a draw of an
hour or more can span sessions (FILE committed, e.g. under ``benchmarks/state/``).

The catalogue is ``timm.list_models()``: models under 150 M parameters (counted on the meta device,
nothing allocated) whose default input is at most 384 pixels. Each drawn model runs alone in a
subprocess (``--one NAME``), the way a user would call torchslim on a model of their own:

    torchslim.compress(model, [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}], example_input=...)
    torchslim.load(pt_path, builder=...)

A model passes when it compresses, keeps at most 0.6 of its MACs, reloads exactly (max difference
0 up to 1e-5) and keeps ONNX parity. A model built without a classifier (a feature extractor) gets
timm's 1000-class head, and batch norms get the statistics of their inputs (``settled``), as a trained
network's are. The summary lists every failure with its cause, and each model
that keeps more MACs with the layers kept whole. Results are appended to ``runs/zoo_sample.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
MAX_PARAMS, MAX_SIDE, MACS_BAR = 150e6, 384, 0.6


def default_side(name: str) -> int:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None else 224


def params_on_meta(name: str) -> int | None:
    """The parameter count, from a model built on the meta device; None when it cannot be built there."""
    import timm

    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
    except Exception:  # noqa: BLE001  (a builder that computes on its tensors at init)
        return None
    return sum(p.numel() for p in model.parameters())


def draw(n: int, seed: int) -> list[str]:
    """``n`` eligible names in a random order fixed by ``seed``."""
    import timm

    names = sorted(timm.list_models())
    random.Random(seed).shuffle(names)
    chosen = []
    for name in names:
        if len(chosen) == n:
            break
        if default_side(name) > MAX_SIDE:
            continue
        params = params_on_meta(name)
        if params is not None and params < MAX_PARAMS:
            chosen.append(name)
    return chosen


def one(name: str, out_root: Path = ROOT / "runs" / "zoo_sample") -> dict:
    """One model through the public API (run in its own process; its files under ``out_root``)."""
    import timm

    import torchslim
    from torchslim.export.outputs import flatten_output
    from torchslim.measurement.bench import BenchConfig

    torch.set_num_threads(2)
    side = default_side(name)

    def builder():
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False)
        if getattr(model, "num_classes", None) == 0:  # a feature extractor (EVA-02's MIM weights): given
            torch.manual_seed(0)  # the 1000-class head a user would fine-tune, so its residual width can be cut
            model = timm.create_model(name, pretrained=False, num_classes=1000)
        return model.eval()

    out: dict = {"name": name, "input": side}
    model = settled(builder(), side)
    out["params"] = sum(p.numel() for p in model.parameters())
    x = torch.randn(2, 3, side, side)
    t0 = time.perf_counter()
    result = torchslim.compress(
        model,
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}],
        example_input=x[:1],
        out_dir=out_root / name.replace("/", "_"),
        latency=BenchConfig(runtimes=[]),
    )
    out["seconds_compress"] = time.perf_counter() - t0
    out["macs_ratio"] = result.measurement.complexity.macs / result.original.macs
    recorded = ("protected", "trace_input", "cut", "unscored", "parts", "cut_warning", "partwise")
    out["notes"] = {k: v for k, v in result.notes.items() if k in recorded}
    reloaded = torchslim.load(result.pt_path, builder=builder)
    with torch.no_grad():
        a, b = flatten_output(result.model(x)), flatten_output(reloaded(x))
    out["reload_max_diff"] = max(float((p - q).abs().max()) for (_, p), (_, q) in zip(a, b))
    out["parity"] = result.parity.as_dict()
    return out


@torch.no_grad()
def settled(model: torch.nn.Module, side: int) -> torch.nn.Module:
    """Batch norms given the statistics of their own inputs (three batches of noise), as a trained
    network's are. At random initialisation a deep network's activations grow layer by layer: an
    unpruned EfficientNetV2-M's logits reached 1.2e7 and its own ONNX export differed by 9.8e6, so
    parity measured rounding noise, not the export (the pruned copy failed by 4 % over 1e-3)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        model(torch.randn(4, 3, side, side, generator=gen))
    return model.eval()


def verdict(r: dict) -> str | None:
    """None when the model passes, else its cause in one line."""
    if "error" in r:
        return r["error"]
    if r["reload_max_diff"] > 1e-5:
        return f"reload differs by {r['reload_max_diff']:.2e}"
    if not r["parity"]["ok"]:
        return f"ONNX parity {r['parity']['max_abs_diff']:.2e} over {r['parity']['tolerance']:.2e}"
    if r["macs_ratio"] > MACS_BAR:
        kept = r["notes"].get("protected") or r["notes"].get("unscored") or "none named"
        why = r["notes"].get("cut_warning")  # the compressor's own line on why the cut fell short
        return f"keeps {r['macs_ratio']:.2f} of its MACs (kept whole: {str(kept)[:200]})" + (
            f"; {why[:300]}" if why else ""
        )
    return None


def run_one(name: str, timeout: float) -> dict:
    command = [sys.executable, "-m", "tests.prune.zoo_sample", "--one", name]
    try:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"timeout: more than {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ZOO ")]
    if not lines:
        return {"name": name, "error": f"the worker died (rc {proc.returncode}): {proc.stderr.strip()[-300:]}"}
    return json.loads(lines[-1][4:])


def source_commit() -> str:
    """The commit of the code under test, with ``+dirty`` when its tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "tests"], cwd=ROOT).returncode != 0
    return (head or "unknown") + ("+dirty" if dirty else "")


def recorded(log: Path, seed: int, commit: str) -> dict[str, dict]:
    """The results ``log`` holds for ``seed`` at ``commit`` (none at a dirty or unknown commit)."""
    if not log.is_file() or commit.endswith("+dirty") or commit == "unknown":
        return {}
    out = {}
    for line in log.read_text().splitlines():
        r = json.loads(line)
        if r.get("seed") == seed and r.get("commit") == commit:
            out[r["name"]] = r
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per model")
    ap.add_argument("--one", help="run one model and print its JSON line (the subprocess)")
    ap.add_argument("--log", type=Path, default=ROOT / "runs" / "zoo_sample.jsonl", help="where results are appended")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="take the models this seed already has in --log at this commit from there (a draw that spans sessions)",
    )
    args = ap.parse_args()
    if args.one:
        import traceback

        try:
            result = one(args.one)
        except Exception as exc:  # reported as data: the summary names the model and the cause
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            result = {"name": args.one, "error": f"{type(exc).__name__}: {first}"}
            result["where"] = traceback.format_exc().splitlines()[-3][:300]
        print("ZOO " + json.dumps(result), flush=True)
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"zoo-sample: seed {seed}, {args.n} models (repeat with SEED={seed})", flush=True)
    names = draw(args.n, seed)
    commit = source_commit()
    done = recorded(args.log, seed, commit) if args.resume else {}
    if args.resume:
        print(f"resumed: {sum(n in done for n in names)} of {len(names)} from {args.log} (commit {commit})")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for i, name in enumerate(names, 1):
        if name in done:
            r = done[name]
        else:
            r = run_one(name, args.timeout) | {"seed": seed, "commit": commit}
            with open(args.log, "a") as log:
                log.write(json.dumps(r | {"verdict": verdict(r) or "pass"}) + "\n")
        why = verdict(r)
        macs = f"MACs kept {r['macs_ratio']:.2f}" if "macs_ratio" in r else ""
        print(f"[{i}/{len(names)}] {name}: {'pass' if why is None else 'FAIL'} {macs} {why or ''}", flush=True)
        if why is not None:
            failures.append((name, why))
    rate = 1 - len(failures) / max(len(names), 1)
    print(f"zoo-sample seed {seed}: {len(names) - len(failures)} of {len(names)} pass ({100 * rate:.0f} %)")
    for name, why in failures:
        print(f"- {name}: {why}")
    return 0 if rate >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
