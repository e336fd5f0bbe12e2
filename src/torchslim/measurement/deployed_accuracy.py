"""Top-1 of an ONNX file in every runtime and precision it is deployed to, on the evaluation split.

A BF16 hint or another runtime's INT8 kernels can change predictions: the latency of a deployment
means little without its own accuracy. Each deployment is evaluated on the same images as the row's
top-1, and its predictions are compared with the float network's, image by image (the agreement).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from torchslim.data.labels import class_indices
from torchslim.measurement.accuracy import check_logits
from torchslim.runtimes import runtime_facts

#: a BF16 or INT8 deployment must pick the float network's class for at least this share of the
#: evaluation images, or the report marks it
AGREEMENT = 0.95


@torch.no_grad()
def accuracy_per_deployment(
    onnx_path: Path,
    network: nn.Module | None,
    loader,
    runtimes: list[str],
    precisions: list[str],
    threads: int,
    is_float_file: bool,
) -> list[dict[str, Any]]:
    """One record per (ONNX runtime, variant): top-1 on ``loader``'s images, and how often it agrees
    with ``network`` (the float model; None: no agreement is computed). ``is_float_file``: the file
    holds the float network itself, so its FP32 deployments agree by construction up to rounding."""
    deployments = [
        (name, variant)
        for name in runtimes
        if runtime_facts(name).loads == "onnx"
        for variant in runtime_facts(name).variants(tuple(precisions))
        if variant.predictor is not None
    ]
    if not deployments:
        return []
    predictors: list[Callable[[np.ndarray], list[np.ndarray]]] = [
        v.predictor(onnx_path, threads) for _, v in deployments
    ]
    hits = [0] * len(deployments)
    agree = [0] * len(deployments)
    n = 0
    if network is not None:
        network.eval()
    for x, y in loader:
        y = class_indices(y).cpu()
        x = x.detach().float().cpu()
        ref = network(x).argmax(1) if network is not None else None
        for i, predict in enumerate(predictors):
            logits = torch.from_numpy(np.asarray(predict(x.numpy())[0], dtype=np.float32))
            check_logits(logits, y)
            picked = logits.argmax(1)
            hits[i] += int((picked == y).sum())
            agree[i] += int((picked == ref).sum()) if ref is not None else 0
        n += len(y)
    out = []
    for (name, variant), h, a in zip(deployments, hits, agree):
        record = {
            "runtime": name,
            "provider": variant.provider,
            "precision": variant.precision,
            "top1": 100.0 * h / max(n, 1),
            "images": n,
            "float_file": is_float_file,
        }
        if network is not None:
            record["agreement"] = a / max(n, 1)
            exact = is_float_file and variant.precision in ("fp32", "file")
            record["ok"] = exact or record["agreement"] >= AGREEMENT
        out.append(record)
    return out
