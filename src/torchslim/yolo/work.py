"""One detection task, wherever an executor runs it: the baseline trained with Ultralytics' trainer, or a
registered method chain applied to that baseline with Ultralytics' trainer as its fine-tuning; then mAP on
the val split, the artifact and its ONNX file, params and FLOPs. Nothing is timed here: the run times every
checkpoint side by side afterwards (``latency_comparison``).

The kind hands the methods what they need of a detector: its input (a square image of the training size),
its attention blocks kept whole (their forward reshapes by a stored head count), its eval forward giving the
predictions alone while a method traces it (so the head's output convolutions are found as the output
layers), Ultralytics' trainer as the fine-tuning and mAP50-95 as the score of each step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from torchslim.artifacts import StoredArtifact
from torchslim.data.base import tree_fingerprint
from torchslim.errors import ConfigError, DataNotFoundError, TorchslimError
from torchslim.export.checkpoint import file_sha256
from torchslim.measurement.complexity import count_flops, count_params, file_size
from torchslim.models import InputSpec
from torchslim.yaml_input import read_yaml_file
from torchslim.yolo.artifact import build_detector, export_detector, load_detector, save_detector
from torchslim.yolo.engine import TrainSettings, finetune, validate
from torchslim.yolo.offline import ultralytics
from torchslim.yolo.prune import detector_context, prune_detector
from torchslim.yolo.synthetic import SyntheticDetection, write_dataset


@dataclass(frozen=True)
class DetectData:
    """A detection dataset as Ultralytics reads it: its data.yaml and class names."""

    yaml: Path
    names: dict[int, str]


def check_data_yaml(path: Path) -> Path:
    """Fail before any training when the data.yaml's splits or class names are missing; returns the folder
    its splits are read from."""
    spec = read_yaml_file(path) or {}
    if not isinstance(spec, dict) or not spec.get("names") or not spec.get("train") or not spec.get("val"):
        raise ConfigError(f"{path}: a YOLO data.yaml needs train:, val: and names: (path: optional)")
    root = Path(spec["path"]) if spec.get("path") else path.parent  # as Ultralytics reads it: from the cwd
    for split in ("train", "val"):
        for entry in spec[split] if isinstance(spec[split], list) else [spec[split]]:
            where = Path(entry) if Path(entry).is_absolute() else root / entry
            if not where.exists():
                raise DataNotFoundError(
                    f"{path}: the {split} split '{entry}' is not at {where} (expected a folder "
                    "of images with labels/ beside images/, or a .txt list of image paths; a "
                    "relative path: is read from the current folder)"
                )
    return root


def data_inputs(data: str) -> tuple[tuple[str, str], ...]:
    """A user's data.yaml and the folder its splits live in, by content (synthetic data: by its settings)."""
    if data == "synthetic":
        return ()
    path = Path(data)
    if not path.is_file():
        raise ConfigError(
            f"data: '{data}' is not a file; give the path of a YOLO data.yaml (train:, val:, names:) or 'synthetic'"
        )
    root = check_data_yaml(path)
    return (("data_yaml_sha256", file_sha256(path)), ("data_fingerprint", tree_fingerprint(root)))


def detection_data(task: Any, cache: Any = None) -> DetectData:
    """The task's data.yaml: written under the run folder for 'synthetic' (the same spec is reused), else
    the user's; Ultralytics imported with the offline settings first."""
    sections = task.kind_config
    ultralytics(task.run_dir / "ultralytics", sections["threads"])
    if sections["data"] == "synthetic":
        path = write_dataset(task.run_dir / "data", SyntheticDetection(**sections["synthetic"].model_dump()))
    else:
        path = Path(sections["data"]).resolve()
        check_data_yaml(path)
    names = read_yaml_file(path).get("names")
    if not names:
        raise ConfigError(f"{path}: no 'names:' (the class names) in the data.yaml")
    return DetectData(path, dict(enumerate(names)) if isinstance(names, list) else names)


def settings_for(task: Any, data: DetectData) -> TrainSettings:
    t = task.kind_config["train"]
    return TrainSettings(
        data=str(data.yaml),
        imgsz=t.imgsz,
        batch=t.batch,
        seed=task.seed,
        optimizer=t.optimizer,
        lr0=t.lr0,
        warmup_epochs=t.warmup_epochs,
        mosaic=t.mosaic,
        close_mosaic=t.close_mosaic,
    )


def detector_spec(task: Any, data: DetectData | None = None) -> InputSpec:
    """A square image of the training size; the class count is the data's (the model yaml's when unread)."""
    imgsz = task.kind_config["train"].imgsz
    return InputSpec(len(data.names) if data is not None else 1, 3, imgsz)


def run_detection(
    task: Any, data: DetectData, folder: Path, baseline_file: Path | None, threads: int
) -> tuple[dict, StoredArtifact]:
    """Train the baseline, or apply the chain to it; validate, save and export. Returns the metrics and
    the artifact (nothing timed)."""
    settings = settings_for(task, data)
    t0 = time.perf_counter()
    if task.chain is None:
        model, metrics = train_baseline(task, data, settings, folder)
    else:
        model, metrics = compress(task, data, settings, folder, baseline_file or task.baseline().folder / "model.pt")
    model.eval()
    model.names = data.names
    save_detector(model, folder / "model.pt", {"imgsz": settings.imgsz})
    measure = task.kind_config["measure"]
    big = max(measure.imgsz)
    onnx = export_detector(model, folder / "model.onnx", big)
    params, nonzero = count_params(model)
    if "map50_95" not in metrics:
        metrics |= validate(model, settings, folder)
    metrics |= {
        "params": params,
        "nonzero_params": nonzero,
        "flops": count_flops(model, (3, big, big)),
        "flops_imgsz": big,
        "flops_train_imgsz": count_flops(model, (3, settings.imgsz, settings.imgsz)),
        "file_bytes": file_size(folder / "model.pt").bytes,
        "onnx_bytes": file_size(onnx).bytes,
        "val_imgsz": settings.imgsz,
        "eval_split": "val",
        "threads": threads,
        "latency": [],
        "wall_seconds": time.perf_counter() - t0,
    }
    return metrics, StoredArtifact("detector", folder, "model.pt", "model.onnx")


def train_baseline(task: Any, data: DetectData, settings: TrainSettings, folder: Path) -> tuple[nn.Module, dict]:
    nc = len(data.names)
    checkpoint = task.model.checkpoint
    if checkpoint is not None:
        model, desc = load_detector(Path(checkpoint))
        if desc["nc"] != nc:
            raise ConfigError(f"checkpoint {checkpoint} detects {desc['nc']} classes, the data {nc}")
    else:
        model = build_detector(task.model.name, nc)
    epochs = task.train.epochs
    t0 = time.perf_counter()
    model = finetune(model, settings, epochs, folder / "ultralytics-runs", "baseline")
    return model, {"train_seconds": time.perf_counter() - t0, "epochs": epochs}


def compress(
    task: Any, data: DetectData, settings: TrainSettings, folder: Path, base_file: Path
) -> tuple[nn.Module, dict]:
    """The chain's registered methods on the trained detector, fine-tuned by Ultralytics' trainer."""
    if not base_file.exists():
        raise TorchslimError(
            f"the baseline of '{task.describe()}' has no model file at {base_file}; rerun with --force to train it"
        )
    model, _ = load_detector(base_file)
    runs = folder / "ultralytics-runs"
    calls = iter(range(1, 1_000_000))

    def tune(m: nn.Module, epochs: int) -> None:
        finetune(m, settings, epochs, runs, f"tune{next(calls)}")

    def score(m: nn.Module) -> dict[str, float]:
        return validate(m, settings, folder)

    mctx = detector_context(model, detector_spec(task, data), task.finetune, task.seed, folder, tune, score)
    t0 = time.perf_counter()
    model = prune_detector(model, task.chain, mctx)
    notes = {k: v for k, v in mctx.notes.items() if k not in ("step", "_t0")}
    metrics = {"compress_seconds": time.perf_counter() - t0, "method_notes": notes}
    tuned = sum(f["epochs"] for f in notes.get("finetune", []))
    metrics |= {"epochs": tuned}
    if notes.get("dynamics"):  # the last step was validated after its fine-tuning: its mAP is the model's
        last = notes["dynamics"][-1]
        metrics |= {"map50": last["map50"], "map50_95": last["map50_95"]}
    return model, metrics
