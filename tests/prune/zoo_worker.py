"""One zoo model through ``prune.structured`` at ratio 0.5, alone in its process: prints one JSON line.

Run by ``tests/prune/test_zoo_all.py`` (``make test-zoo``) in a subprocess per model, so that the
peak memory it reports (``ru_maxrss``) is that model's, and a model that exhausts memory or time
fails its own case only. ``python -m tests.prune.zoo_worker torchvision:mobilenet_v2`` runs one by hand.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch


def native_size(name: str) -> int:
    """The image side a model's published weights are evaluated at (224 when it publishes none)."""
    prefix, rest = name.split(":", 1)
    if prefix == "torchvision":
        import torchvision.models as tvm

        return int(tvm.get_model_weights(rest).DEFAULT.transforms().crop_size[0])
    import timm

    cfg = timm.models.get_pretrained_cfg(rest)
    return int(cfg.input_size[-1]) if cfg is not None else 224


def check(name: str, ratio: float = 0.5) -> dict:
    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.export.checkpoint import save_model
    from torchslim.export.onnx import check_parity, export_onnx, ort_session
    from torchslim.measurement.complexity import count_flops, count_params
    from torchslim.methods import Chain, MethodContext, apply_chain
    from torchslim.models import InputSpec, ModelConfig, build_model, describe, load_model
    from torchslim.train import TrainConfig

    torch.set_num_threads(2)
    size = native_size(name)
    spec = InputSpec(10, 3, size)
    out: dict = {"name": name, "input": size}
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    out["params"] = count_params(model)[0]
    out["macs_before"] = count_flops(model, spec.shape)
    data = build_dataset(DatasetConfig(name="synthetic", shape=(3, size, size), size=8, num_classes=10))
    with tempfile.TemporaryDirectory() as tmp:
        ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=4), 0, Path(tmp))
        t0 = time.perf_counter()
        chain = Chain.parse({"prune.structured": {"ratio": ratio, "finetune_epochs": 0}})
        model = apply_chain(model, chain, ctx).eval()
        out["prune_seconds"] = time.perf_counter() - t0
        out["prune_peak_gib"] = peak_gib()
        recorded = ("protected", "trace_input", "cut", "unscored", "parts", "cut_warning")
        out["notes"] = {k: v for k, v in ctx.notes.items() if k in recorded}
        out["macs_after"] = count_flops(model, spec.shape)
        out["macs_ratio"] = out["macs_after"] / out["macs_before"]
        x = torch.randn(2, *spec.shape)
        with torch.no_grad():
            y = model(x)
        out["output_shape"] = list(y.shape)
        save_model(model, Path(tmp) / "m.pt", describe(ModelConfig(name=name), spec))
        loaded, _ = load_model(Path(tmp) / "m.pt")
        with torch.no_grad():
            out["reload_max_diff"] = float((loaded(x) - y).abs().max())
        exporter = export_onnx(loaded, torch.zeros(1, *spec.shape), Path(tmp) / "m.onnx")
        parity = check_parity(loaded, ort_session(Path(tmp) / "m.onnx", 2), x, exporter)
        out["parity"] = {"max_abs_diff": parity.max_abs_diff, "tolerance": parity.tolerance, "exporter": exporter}
    out["peak_gib"] = peak_gib()
    return out


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    t = time.perf_counter()
    try:
        result = check(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
    except Exception as exc:  # reported as data: the test names the model and the error
        result = {
            "name": sys.argv[1],
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            "where": traceback.format_exc().splitlines()[-3][:300],
            "peak_gib": peak_gib(),
        }
    result["seconds"] = time.perf_counter() - t
    print("ZOO " + json.dumps(result), flush=True)
