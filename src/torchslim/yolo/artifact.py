"""Detectors saved as plain tensors plus their yaml and pruned widths; loaded without unpickling.

Ultralytics' own ``.pt`` files pickle the whole module, so reading one runs code from the file.
torchslim saves a detector like every other model (``torchslim.model/2``: tensors, the architecture
as plain data, a description) with the description holding the model yaml as a dict. Loading builds
the model from that yaml, splits its C2f blocks, re-applies the pruned widths and loads the tensors
with ``torch.load(weights_only=True)``. Nothing can trigger an install or a download.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from torchslim.errors import CheckpointError, ConfigError
from torchslim.export.architecture import apply_architecture
from torchslim.export.checkpoint import read_model_file, save_model
from torchslim.export.onnx import export_onnx
from torchslim.export.untrusted import bounded_build
from torchslim.yolo.modules import split_c2f

KIND = "ultralytics-detect"


def build_detector(source: str, nc: int) -> nn.Module:
    """A DetectionModel from a yaml name or path (e.g. ``yolo11n.yaml``), C2f blocks already split."""
    from ultralytics.nn.tasks import DetectionModel

    if not str(source).endswith((".yaml", ".yml")):
        raise ConfigError(
            f"yolo model '{source}': give a model yaml such as yolo11n.yaml (built from scratch) "
            "or a torchslim detector artifact with 'checkpoint:'; Ultralytics .pt files pickle code"
        )
    try:
        model = DetectionModel(source, nc=nc, verbose=False)
    except FileNotFoundError:
        raise ConfigError(
            f"yolo model yaml '{source}' not found (Ultralytics ships yolo11n.yaml, yolov8n.yaml, "
            "... or give a local path)"
        ) from None
    split_c2f(model)
    return model


def save_detector(model: nn.Module, path: Path, extra: dict | None = None) -> None:
    description = {
        "kind": KIND,
        "yaml": dict(model.yaml),
        "nc": int(model.model[-1].nc),
        "names": {int(k): str(v) for k, v in getattr(model, "names", {}).items()},
    } | (extra or {})
    save_model(model.float().eval(), Path(path), description)


def load_detector(path: Path) -> tuple[nn.Module, dict]:
    """(model in eval mode, description) of a saved detector artifact."""
    from ultralytics.nn.tasks import DetectionModel

    description, arch, state = read_model_file(Path(path))
    if description.get("kind") != KIND:
        raise CheckpointError(
            f"'{path}' is a torchslim artifact but not a detector (kind "
            f"{description.get('kind', 'classifier')!r}); load it with torchslim.models.load_model"
        )
    if type(description.get("yaml")) is not dict or type(description.get("nc")) is not int:
        raise CheckpointError(f"'{path}' is a damaged detector file: its description lacks the model yaml or nc")

    def build() -> nn.Module:
        model = DetectionModel(copy.deepcopy(description["yaml"]), nc=description["nc"], verbose=False)
        split_c2f(model)
        return model

    try:
        model = bounded_build(build, sum(t.numel() for t in state.values()), str(path))
        apply_architecture(model, arch, state)
        model.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as exc:  # what the file says is untrusted: any failure to build it is the file's
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"'{path}': the detector it describes cannot be built ({type(exc).__name__}: {first})")
    model.names = description.get("names", {})
    return model.eval(), description


def export_detector(model: nn.Module, path: Path, imgsz: int) -> Path:
    """ONNX with a dynamic batch axis, predictions only (boxes + class scores per anchor)."""
    export_onnx(Predictions(copy.deepcopy(model).eval()), torch.zeros(1, 3, imgsz, imgsz), path)
    return path


class Predictions(nn.Module):
    """The detector's decoded prediction tensor alone (Ultralytics' eval forward also returns features)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out[0] if isinstance(out, (tuple, list)) else out


def deployable_detector(path: Path) -> nn.Module:
    """A saved detector as it is deployed and timed: Conv+BN fused (as Ultralytics exports it), predictions
    only (ONNX Runtime gets the exported graph, which fuses BN itself)."""
    fused = load_detector(Path(path))[0]
    fused.fuse(verbose=False)
    return Predictions(fused).eval()
