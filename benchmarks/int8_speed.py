"""INT8 static (QDQ) against FP32 in every registered runtime, and pruning + INT8 against eager FP32.

Usage: python benchmarks/int8_speed.py [--batch 8] [--width 0.05] [--budget 120]
torchvision ResNet-18/50 at 224x224 with random weights (this measures speed and size, not
accuracy), calibrated on 64 synthetic images. The same files run in ONNX Runtime and, where it is
installed, OpenVINO (FP32, BF16 by its precision hint where the CPU has BF16, INT8 from the QDQ
file). Every variant of one model is timed in the same process in alternating rounds, and every
ratio carries its 95 % interval (``measurement.ratio``). Targets (issues 13 and 36):
static INT8 >= 2.8x faster than FP32 in ONNX Runtime at batch 8, file <= 30 % of FP32; ResNet-18
pruned 50 % + INT8 >= 10x faster than eager FP32. On a CPU with AMX: the fastest INT8 deployment
>= 9.0x (ResNet-50) and >= 10.0x (ResNet-18) over ONNX Runtime FP32; pruned 50 % + INT8 in the
fastest runtime >= 40x over eager FP32 and >= 3x over the original's fastest deployment that needs
no calibration. The section names the CPU's ISA: without AMX those targets do not apply.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch
from _common import MachineWatch, write_section

from torchslim.data import DatasetConfig, build_dataset
from torchslim.export.onnx import export_onnx
from torchslim.measurement.allocator import keep_freed_memory
from torchslim.measurement.complexity import count_flops
from torchslim.measurement.hardware import fingerprint
from torchslim.measurement.ratio import measure_ratios, verdict_text
from torchslim.measurement.roofline import precision_peak_gflops
from torchslim.methods import Chain, MethodContext, apply_chain
from torchslim.models import InputSpec, build_model
from torchslim.report.tables import markdown_table
from torchslim.runtimes import runtime_facts
from torchslim.train import TrainConfig

MODELS = ("torchvision:resnet18", "torchvision:resnet50")
SPEED_TARGET, SIZE_TARGET, CHAIN_TARGET = 2.8, 0.30, 10.0
AMX_INT8_TARGET = {"resnet18": 10.0, "resnet50": 9.0}
AMX_CHAIN_TARGET, AMX_REFERENCE_TARGET = 40.0, 3.0


def deployments(found: dict, compile_too: bool) -> dict:
    """label -> (runtime, precision, source, module): each file in ONNX Runtime, and in OpenVINO
    where it is installed (BF16 only where the CPU has it, FP32 files only: an INT8 file is INT8);
    the PyTorch module eager, and compiled by torch.compile (FP32, and BF16 where the CPU has it)."""
    out = {}
    openvino = runtime_facts("openvino")
    compiled = runtime_facts("torch.compile")
    for label, (path, module) in found.items():
        if path is None:
            out[label] = ("torch", "fp32", module, module)
            if compile_too and compiled.refuses("fp32") is None:
                out["FP32 compiled (torch.compile)"] = ("torch.compile", "fp32", module, module)
                if compiled.refuses("bf16") is None:
                    out["BF16 compiled (torch.compile)"] = ("torch.compile", "bf16", module, module)
            continue
        out[label] = ("onnxruntime", "fp32", path, module)
        if openvino.missing() is None:
            out[label.replace("(ORT)", "(OpenVINO)")] = ("openvino", "fp32", path, module)
            if label == "FP32 (ORT)" and bf16_capable():
                out["BF16 (OpenVINO)"] = ("openvino", "bf16", path, module)
    return out


def bf16_capable() -> bool:
    from torchslim.runtimes.openvino import capabilities

    return "BF16" in capabilities()


def runner(runtime: str, precision: str, source, batch, threads: int):
    variant = next(v for v in runtime_facts(runtime).variants((precision,)) if v.precision in (precision, "file"))
    return variant.make(source, batch, threads)


def variants(name: str, spec: InputSpec, data, tmp: Path) -> dict:
    """name -> (onnx path or None for eager torch, module for MACs)."""
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    fp32 = export_onnx(model, torch.zeros(1, *spec.shape), tmp / "fp32.onnx") and tmp / "fp32.onnx"
    out = {"FP32 eager (torch)": (None, model), "FP32 (ORT)": (fp32, model)}
    ctx = MethodContext(data, spec, TrainConfig(), 0, tmp / "static")
    ctx.workdir.mkdir()
    q = apply_chain(build_model(name, spec).eval(), Chain.parse({"quant.static": {"calibration_samples": 64}}), ctx)
    out["INT8 static (ORT)"] = (q.onnx_path, model)
    if name.endswith("resnet18"):
        ctx = MethodContext(data, spec, TrainConfig(), 0, tmp / "chain")
        ctx.workdir.mkdir()
        torch.manual_seed(0)
        chain = Chain.parse(
            [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}, {"quant.static": {"calibration_samples": 64}}]
        )
        pq = apply_chain(build_model(name, spec).eval(), chain, ctx)
        out["pruned 50 % + INT8 static (ORT)"] = (pq.onnx_path, pq.reference)
    return out


def amx_verdicts(short: str, found: dict, ratios: dict, times: dict, eager: str, ort32: str) -> list[str]:
    """Issue 36's targets: the fastest INT8 deployment over ORT FP32, and pruned + INT8 over eager
    FP32 and over the original's fastest deployment that needs no calibration (FP32 or BF16)."""

    def fastest(labels):
        return min(labels, key=lambda label: statistics.median(times[label]))

    out = []
    int8 = fastest([label for label in found if label.startswith("INT8")])
    amx = "amx_int8" in fingerprint().get("isa", [])
    target = AMX_INT8_TARGET[short]
    out.append(
        f"{short}: fastest INT8 deployment ({int8}) vs ORT FP32: {ratios[(ort32, int8)].text()}"
        + (f", target >= {target}x on AMX: {verdict_text(ratios[(ort32, int8)], target)}" if amx else
           f" (target >= {target}x applies on AMX; this CPU has none)")
    )  # fmt: skip
    chains = [label for label in found if label.startswith("pruned")]
    if chains:
        chain = fastest(chains)
        free = fastest([label for label in found if label.startswith(("FP32", "BF16")) and label != eager] + [eager])
        vs_free = ratios.get((free, chain))
        out.append(
            f"{short}: fastest pruned 50 % + INT8 ({chain}) vs eager FP32: {ratios[(eager, chain)].text()}"
            + (f", target >= {AMX_CHAIN_TARGET:.0f}x on AMX: {verdict_text(ratios[(eager, chain)], AMX_CHAIN_TARGET)}"
               if amx else "")
            + f"; vs the original's fastest calibration-free deployment ({free}): "
            + (vs_free.text() if vs_free else "not paired")
            + (f", target >= {AMX_REFERENCE_TARGET:.0f}x on AMX: {verdict_text(vs_free, AMX_REFERENCE_TARGET)}"
               if amx and vs_free else "")
        )  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=float, default=0.05, help="stop when every interval is within this of its ratio")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds of timing per model at most")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out (its compile takes minutes)")
    args = ap.parse_args()
    keep_freed_memory()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    watch = MachineWatch(threads)
    spec = InputSpec(1000, 3, 224)
    data = build_dataset(DatasetConfig(name="synthetic", shape=(3, 224, 224), size=80))
    rows, verdicts, rounds = [], [], []
    peaks = {p: precision_peak_gflops(p, threads) for p in ("fp32", "int8", "bf16")}
    for name in MODELS:
        short = name.split(":")[1]
        with tempfile.TemporaryDirectory() as tmp:
            files = variants(name, spec, data, Path(tmp))
            found = deployments(files, not args.no_compile)
            batch = torch.randn(args.batch, *spec.shape, generator=torch.Generator().manual_seed(0))
            runners = {label: runner(rt, prec, src, batch, threads) for label, (rt, prec, src, _) in found.items()}
            eager, ort32 = "FP32 eager (torch)", "FP32 (ORT)"
            pairs = [(ort32, label) for label in found if label != ort32]
            pairs += [(eager, label) for label in found if label not in (eager, ort32)]
            free = [label for label in found if label.startswith(("FP32", "BF16")) and label not in (eager, ort32)]
            pairs += [(a, b) for a in free for b in found if b.startswith("pruned")]
            ratios, times = measure_ratios(runners, pairs, rel_width=args.width, budget_s=args.budget)
            ratios[(eager, ort32)] = ratios[(ort32, eager)].inverse()
            rounds.append(f"{short}: {len(times[ort32])} rounds")
            fp32_bytes = files[ort32][0].stat().st_size
            for label, (rt, prec, source, module) in found.items():
                size = source.stat().st_size if rt not in ("torch", "torch.compile") else None
                kind = "int8" if "INT8" in label else prec
                achieved = count_flops(module, spec.shape) * args.batch / statistics.median(times[label]) / 1e9
                rows.append(
                    [
                        short,
                        label,
                        f"{statistics.median(times[label]) * 1e3:.2f}",
                        ratios[(ort32, label)].text() if label != ort32 else "1 (reference)",
                        ratios[(eager, label)].text() if label != eager else "1 (reference)",
                        f"{size / 1e6:.2f}" if size else "state dict",
                        f"{100 * size / fp32_bytes:.0f}%" if size else "—",
                        f"{count_flops(module, spec.shape) / 2e9:.2f}",
                        f"{100 * achieved / peaks[kind]:.0f}% of {kind}" if peaks[kind] else f"no {kind} peak",
                    ]
                )
            r = files["INT8 static (ORT)"][0].stat().st_size / fp32_bytes
            verdicts.append(
                f"{short}: INT8 static vs FP32 ORT, target >= {SPEED_TARGET}x: "
                f"{verdict_text(ratios[(ort32, 'INT8 static (ORT)')], SPEED_TARGET)}; "
                f"file {100 * r:.0f}% of FP32 (target <= {100 * SIZE_TARGET:.0f}%: "
                f"{'met' if r <= SIZE_TARGET else 'NOT met'}, a size is exact)"
            )
            chain = "pruned 50 % + INT8 static (ORT)"
            if chain in found:
                verdicts.append(
                    f"{short}: pruned 50 % + INT8 static vs eager FP32 PyTorch, target >= {CHAIN_TARGET:.0f}x: "
                    f"{verdict_text(ratios[(eager, chain)], CHAIN_TARGET)}"
                )
            verdicts += amx_verdicts(short, found, ratios, times, eager, ort32)
            wide = [f"{b} vs {a} ±{100 * x.half_width:.0f} %" for (a, b), x in ratios.items() if not x.converged]
            if wide:
                verdicts.append(
                    f"{short}: intervals not narrowed to ±{100 * args.width:.0f} % within {args.budget:g} s "
                    f"({len(times[ort32])} rounds): {'; '.join(wide)}"
                )
    isa = ", ".join(fingerprint().get("isa", [])) or "none recorded"
    body = (
        f"## INT8 static quantization speed and size: torchvision ResNet-18/50, 224x224, batch {args.batch}"
        + (" (a CPU with AMX)" if "amx_int8" in isa else "")
        + "\n\n"
        f"CPU ISA: {isa} (AMX: {'yes' if 'amx_int8' in isa else 'no'}; VNNI: "
        f"{'yes' if 'vnni' in isa else 'no'}; BF16: {'yes' if 'bf16' in isa else 'no'}).\n\n"
        "Matrix-multiply peaks of this machine, square 1024/2048 products through the runtimes' own kernels: "
        + "; ".join(
            f"{k.upper()} {v:.0f} GFLOP/s" if v else f"{k.upper()} none (no such kernels here)"
            for k, v in peaks.items()
        )
        + " (FP32: the best of PyTorch's and ONNX Runtime's GEMM; INT8: the best of ONNX Runtime's and OpenVINO's "
        "on a QDQ MatMul; BF16: OpenVINO's BF16 hint). Each row's % is of the peak of the precision it computes "
        "in (an INT8 file's of INT8's).\n\n"
        "ONNX Runtime static INT8 (QDQ, per-channel INT8 weights, UINT8 activations, MinMax calibration on 64 "
        "synthetic images) against the FP32 export of the same network; random weights (speed and size only). "
        "All variants of a model are timed in one process in alternating rounds (about 0.2 s each; "
        f"{'; '.join(rounds)}), added until every ratio's 95 % interval is within ±{100 * args.width:.0f} % "
        f"or {args.budget:g} s are spent; {threads} threads. A speedup is the median of the per-round ratios, "
        "with its 95 % order-statistic interval in brackets. A verdict is `met` only when the whole interval "
        "is above the target, `NOT met` only when it is all below, else `inconclusive`.\n\n"
        + markdown_table(
            [
                "Model",
                "Variant",
                f"Median ms (b{args.batch})",
                "Speedup vs FP32 ORT (95 % CI)",
                "Speedup vs FP32 eager (95 % CI)",
                "File (MB)",
                "File vs FP32 ONNX",
                "GMACs/img",
                "% of its precision's peak",
            ],
            rows,
            "llrrrrrrr",
        )
        + "\n\n"
        + "\n".join(f"- {v}" for v in verdicts)
        + "\n"
        + watch.stop().text()
    )
    amx = "amx_int8" in isa
    write_section("int8-speed-amx" if amx else "int8-speed", body)  # machines differ: one section per kind of CPU
    print(body)


if __name__ == "__main__":
    main()
