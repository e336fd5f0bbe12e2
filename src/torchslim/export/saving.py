"""A finished model's files in its task folder: what is deployed, and what is measured."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from torchslim.artifacts import StoredArtifact
from torchslim.backends.brevitas import is_brevitas
from torchslim.export.checkpoint import save_model
from torchslim.export.deployed import DeployedFile
from torchslim.export.onnx import ExportedOnnx, export_onnx


def save_artifact(
    model: nn.Module, folder: Path, description: dict, input_shape: tuple[int, ...], export: bool
) -> tuple[StoredArtifact, ExportedOnnx | None]:
    """model.onnx for a deployed ONNX Runtime artifact; else model.pt (tensors + plain-data architecture)
    and, when asked or for a Brevitas model, its ONNX export as model.onnx (returned for measuring)."""
    if isinstance(model, DeployedFile):
        model.copy_to(folder / "model.onnx")
        return StoredArtifact("onnx", folder, None, "model.onnx"), None
    save_model(model, folder / "model.pt", description)
    brevitas = is_brevitas(model)
    if not (export or brevitas):
        return StoredArtifact("torchslim", folder, "model.pt", None), None
    onnx = folder / "model.onnx"
    exported = ExportedOnnx(onnx, export_onnx(model, torch.zeros(1, *input_shape), onnx))
    return StoredArtifact("brevitas" if brevitas else "torchslim", folder, "model.pt", "model.onnx"), exported
