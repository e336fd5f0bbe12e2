"""``torchslim.compress``: a method chain applied to the model already in the caller's hands.

The chain, the methods and the measurement are the ones ``torchslim run`` uses; only the inputs
differ: the caller's module (copied, never changed), their data (see ``data.user_data``) and,
optionally, their own training loop (``finetune(model, epochs)``). The result holds the compressed
model, its deployable files, a ``Measurement`` and the accuracy on ``eval_data``.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import BaseModel
from torch import nn

from torchslim.api import user_description
from torchslim.data import BatchLoader, DataBundle
from torchslim.data.user_data import user_bundle
from torchslim.device import placed
from torchslim.device import resolve as resolve_placement
from torchslim.errors import ConfigError, MissingDataError
from torchslim.export.onnx import Parity, check_parity, ort_session
from torchslim.export.outputs import flatten_output
from torchslim.export.saving import save_artifact
from torchslim.measurement.accuracy import Accuracy, evaluate
from torchslim.measurement.bench import BenchConfig, Measurement, measure
from torchslim.measurement.complexity import Complexity, complexity
from torchslim.methods import MethodContext, apply_chain
from torchslim.methods.chain import Chain
from torchslim.methods.registry import METHODS
from torchslim.metric import Metric
from torchslim.models import InputSpec
from torchslim.owned_folders import mark, writable_folder
from torchslim.runtimes.deployed import OnnxModel
from torchslim.train import TrainConfig
from torchslim.train.determinism import configure
from torchslim.yaml_input import parse_yaml

Recipe = str | list | dict | BaseModel
#: fine-tuning with torchslim's trainer when the caller brings no loop: a tenth of a training lr, 128 per batch
DEFAULT_FINETUNE = TrainConfig(epochs=1, lr=0.01, schedule="cosine", warmup_fraction=0.0)


@dataclass
class CompressResult:
    """What ``compress`` returns: the model, its files, and what the compression gained."""

    model: nn.Module  # the compressed module; an INT8 chain gives an ONNX Runtime module (``model(x)`` runs it)
    chain: str
    artifact: Path  # the deployable file: model.onnx for an ONNX Runtime artifact, else model.pt
    pt_path: Path | None
    onnx_path: Path | None
    measurement: Measurement
    original: Complexity
    accuracy: Accuracy | None  # on eval_data, when given
    original_accuracy: Accuracy | None
    parity: Parity | None  # PyTorch vs ONNX Runtime of the float network (before any INT8 rounding)
    int8_agreement: float | None  # share of eval images whose INT8 top-1 class equals the float one
    notes: dict[str, Any] = field(default_factory=dict)
    score: dict[str, float] | None = None  # the caller's evaluate(model), when given
    original_score: dict[str, float] | None = None

    @property
    def macs_reduction(self) -> float:
        return self.original.macs / max(self.measurement.complexity.macs, 1)

    def summary(self) -> str:
        acc = (
            f", top-1 {self.original_accuracy.top1:.2f}% -> {self.accuracy.top1:.2f}%"
            if self.accuracy and self.original_accuracy
            else ""
        )
        if self.score and self.original_score:
            name = next(iter(self.score))
            acc += f", {name} {self.original_score[name]:.4g} -> {self.score[name]:.4g}"
        return (
            f"{self.chain}: {self.macs_reduction:.2f}x fewer MACs, {self.measurement.size.bytes / 1e6:.2f} MB "
            f"{self.artifact.name}{acc}"
        )


def parse_recipe(recipe: Recipe) -> Chain:
    """The chain grammar of the YAML: a YAML string, a list of ``{name: {settings}}``, or method configs."""
    if isinstance(recipe, str):
        recipe = parse_yaml(recipe, "recipe")
    items = recipe if isinstance(recipe, list) else [recipe]
    return Chain.parse([named_config(item) if isinstance(item, BaseModel) else item for item in items])


def named_config(cfg: BaseModel) -> dict:
    """``{name: settings}`` for a method config object, found by its class in the registry."""
    for entry in METHODS.entries():
        if entry.builder.config_cls is type(cfg):
            return {entry.name: cfg.model_dump(mode="json", exclude_unset=True)}
    raise ConfigError(f"{type(cfg).__name__} is not a registered method's config; choose from {METHODS.names()}")


def compress(
    model: nn.Module,
    recipe: Recipe,
    *,
    example_input: torch.Tensor,
    train_data: Any = None,
    eval_data: Any = None,
    calibration_data: Any = None,
    finetune: Callable[[nn.Module, int], None] | None = None,
    device: str | None = None,
    train: TrainConfig | dict | None = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    latency: BenchConfig | None = None,
    loss: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
    evaluate: Callable[[nn.Module], float | dict[str, float]] | None = None,
) -> CompressResult:
    """Apply ``recipe`` to a copy of ``model`` and measure what it gained.

    Data is a ``Dataset``, a ``DataLoader`` or an iterable of ``(x, y)`` batches, normalised as the
    model expects. ``finetune(model, epochs)`` is the caller's own loop for plain fine-tuning; without
    it torchslim's trainer runs on ``train_data`` with ``train`` (default ``DEFAULT_FINETUNE``).
    Files go to ``out_dir`` (default ``runs/compress/<time>``). ``latency`` times the artifact
    (default: batch 1 in ONNX Runtime, and PyTorch for a module); ``BenchConfig(runtimes=[])`` skips it.

    A model whose output is not one logits tensor (a dict, tuple or dataclass: segmentation, detection,
    multi-head) trains on ``train_data`` with ``loss(outputs, targets)`` (targets as the data gives them)
    and is scored by ``evaluate(model)``, a number or ``{name: number}`` whose first entry is the primary
    score, higher is better (it reads its own data; ``eval_data`` is then not needed). Either also
    replaces cross-entropy and top-1 for a classifier.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"compress takes an nn.Module, got a {type(model).__name__}")
    if not (torch.is_tensor(example_input) and example_input.dim() == 4):
        raise ConfigError("example_input must be one (N, C, H, W) image batch tensor, e.g. torch.zeros(1, 3, 224, 224)")
    chain = parse_recipe(recipe)
    folder = output_folder(out_dir)
    # the methods' intermediate files (float exports, checkpoints): a fresh folder, removed at the end
    work = Path(tempfile.mkdtemp(prefix="work-", dir=folder))
    finetune_cfg = TrainConfig.model_validate(train) if isinstance(train, dict) else (train or DEFAULT_FINETUNE)
    configure(seed, finetune_cfg.deterministic, finetune_cfg.placement.threads)
    model = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        out = model(example_input[:1].cpu())
    outputs = flatten_output(out)  # one line for an output that holds no tensor
    multi = not torch.is_tensor(out)
    missing = [
        need
        for need, given, wanted in (("loss=", loss, train_data), ("evaluate=", evaluate, eval_data))
        if multi and wanted is not None and given is None and not (need == "loss=" and finetune is not None)
    ]
    if missing:
        raise ConfigError(
            f"the model returns a {type(out).__name__} of {len(outputs)} tensor(s) "
            f"({', '.join(n for n, _ in outputs[:4])}): cross-entropy and top-1 need one logits tensor, so pass "
            f"{' and '.join(missing)} (loss(outputs, targets) -> tensor; evaluate(model) -> score, higher is better)"
        )
    first = outputs[0][1]
    num_classes = int(first.shape[1]) if first.dim() >= 2 else int(first.numel())
    scored = evaluate is not None
    data = user_bundle(
        example_input, num_classes, train_data, None if scored else eval_data, calibration_data, loss is not None
    )
    spec = InputSpec(num_classes, data.info.in_channels, data.info.image_size)
    placement = resolve_placement(device or finetune_cfg.placement.device, finetune_cfg.placement.precision)
    score = user_score(evaluate) if scored else None
    with placed(placement):
        original_accuracy = accuracy_on(model, data, finetune_cfg)
        original_score = score(model) if score else None
        ctx = MethodContext(data, spec, finetune_cfg, seed, work, original=copy.deepcopy(model), finetune_fn=finetune)
        if loss is not None:
            ctx.default_loss = lambda outputs, targets, _inputs: loss(outputs, targets)
        if score is not None:
            ctx.score = score
            ctx.metric = Metric(next(iter(original_score)), next(iter(original_score)), higher_is_better=True)
        try:
            compressed = apply_chain(model, chain, ctx)
        except MissingDataError as exc:
            step = chain.steps[ctx.notes.get("step", 0)]
            raise ConfigError(f"{step.name}: {exc}; pass it to torchslim.compress") from None
        compressed.eval()
        accuracy = accuracy_on(compressed, data, finetune_cfg)
        final_score = score(compressed) if score else None
    description = user_description(model, spec.shape, num_classes)
    stored, exported = save_artifact(compressed, folder, description, spec.shape, export=True)
    if isinstance(compressed, OnnxModel):  # served from the stored copy: the work folder goes
        compressed = OnnxModel(stored.onnx_path, compressed.reference, compressed.precision)
    shutil.rmtree(work, ignore_errors=True)
    bench = latency or BenchConfig(
        batch_sizes=[1], runtimes=["onnxruntime"] if isinstance(compressed, OnnxModel) else ["torch", "onnxruntime"]
    )
    artifact = stored.model_path or stored.onnx_path
    measurement = measure(compressed, bench, spec=spec, artifact=artifact, onnx=exported)
    parity, agreement = measurement.parity, None
    if isinstance(compressed, OnnxModel):
        parity, agreement = deployed_parity(compressed, folder, example_input, data, classes=not multi)
    return CompressResult(
        model=compressed,
        chain=chain.label,
        artifact=artifact,
        pt_path=stored.model_path,
        onnx_path=stored.onnx_path,
        measurement=measurement,
        original=complexity(ctx.original, spec.shape),
        accuracy=accuracy,
        original_accuracy=original_accuracy,
        parity=parity,
        int8_agreement=agreement,
        notes={k: v for k, v in ctx.notes.items() if k not in ("step", "_t0")},
        score=final_score,
        original_score=original_score,
    )


def user_score(evaluate: Callable[[nn.Module], float | dict[str, float]]) -> Callable[[nn.Module], dict[str, float]]:
    """The caller's ``evaluate`` as ``{name: value}`` (a bare number is ``{"score": value}``), in eval mode."""

    def score(model: nn.Module) -> dict[str, float]:
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                got = evaluate(model)
        finally:
            model.train(was)
        if isinstance(got, dict) and got and all(isinstance(v, (int, float)) for v in got.values()):
            return {str(k): float(v) for k, v in got.items()}
        if isinstance(got, (int, float)) or (torch.is_tensor(got) and got.numel() == 1):
            return {"score": float(got)}
        raise ConfigError(f"evaluate(model) returned {type(got).__name__}; return a number or {{name: number}}")

    return score


OUTPUTS = ("model.pt", "model.onnx", "model.float.onnx")


def output_folder(out_dir: str | Path | None) -> Path:
    """``out_dir``, or a new ``runs/compress/<time>-<suffix>`` (two calls in one second get two
    folders); a folder of the user's is written only where it holds none of the output names."""
    if out_dir is not None:
        return writable_folder(Path(out_dir), OUTPUTS)
    root = Path("runs/compress")
    root.mkdir(parents=True, exist_ok=True)
    return mark(Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=root)))


def accuracy_on(model: nn.Module, data: DataBundle, cfg: TrainConfig) -> Accuracy | None:
    if not data.has_eval:
        return None
    return evaluate(model, BatchLoader(data.eval, data.info, cfg.eval_batch_size))


def deployed_parity(
    deployed: OnnxModel, folder: Path, example_input: torch.Tensor, data: DataBundle, classes: bool = True
) -> tuple[Parity, float | None]:
    """For an INT8 file: the float network's export parity (written beside it as model.float.onnx),
    and how often the INT8 file picks the float network's class on ``eval_data``."""
    from torchslim.export.onnx import export_onnx

    float_onnx = folder / "model.float.onnx"
    exporter = export_onnx(deployed.reference, example_input[:1].cpu(), float_onnx)
    images = data.eval.images[:256] if data.has_eval else example_input.cpu()
    parity = check_parity(deployed.reference, ort_session(float_onnx, 1), images[:8].float(), exporter)
    if not data.has_eval or not classes:
        return parity, None
    with torch.no_grad():
        agree = (deployed(images).argmax(1) == deployed.reference(images).argmax(1)).float().mean()
    return parity, float(agree)
