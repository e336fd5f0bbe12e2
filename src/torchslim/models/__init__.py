"""Model registry: built-ins, ``torchvision:NAME`` and ``timm:NAME``; ``build_model`` adapts them."""

from __future__ import annotations

import dataclasses

import torch
from pydantic import ValidationError
from torch import nn

from torchslim.data.base import DATASETS, DataBundle
from torchslim.errors import CheckpointError, ConfigError
from torchslim.export.architecture import apply_architecture
from torchslim.export.checkpoint import read_model_file
from torchslim.export.untrusted import bounded_build
from torchslim.models import cnv, dcgan, mobilenet_v1, quant_cnv, resnet_cifar, small_cnns, zoo  # noqa: F401  (registers)
from torchslim.models.base import MODELS, InputSpec, ModelConfig, SavedDescription
from torchslim.models.weights import load_weights, pretrained_file


def build_model(cfg: ModelConfig | str, spec: InputSpec, notes: list[str] | None = None) -> nn.Module:
    """Build a model for ``spec`` and load a local checkpoint or cached pretrained weights when the
    config asks; what had to be adapted (a replaced head, a folded stem) is appended to ``notes``."""
    cfg = ModelConfig.model_validate(cfg)
    entry = MODELS.get(cfg.name)
    prefix, rest = MODELS.split(cfg.name)
    try:
        model = entry.builder(spec, rest, **cfg.kwargs) if prefix else entry.builder(spec, **cfg.kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model '{cfg.name}' cannot be built for input {spec.shape}: {exc}") from None
    source = cfg.checkpoint if cfg.checkpoint is not None else pretrained_file(cfg.name) if cfg.pretrained else None
    if source is not None:
        adapted = load_weights(model, source, spec)
        if notes is not None:
            notes += adapted
    return model


def classifier_names() -> list[str]:
    """Registry models that classify images (a generator's registry entry says ``task="generate"``)."""
    return [n for n in MODELS.names() if MODELS.get(n).meta.get("task", "classify") == "classify"]


def float_model_names() -> list[str]:
    """Registry classifiers in floating point: the ones pruning and INT8 methods start from."""
    return [n for n in classifier_names() if not MODELS.get(n).meta.get("quantized")]


def default_input(name: str) -> InputSpec:
    """The input a model is tested at: that of its default dataset (a generator's: its latent)."""
    entry = MODELS.get(name)
    if "default_spec" in entry.meta:
        return entry.meta["default_spec"]
    shape = DATASETS.get(entry.meta["default_dataset"]).meta["input_shape"]
    return InputSpec(num_classes=10, in_channels=shape[0], image_size=shape[1])


__all__ = [
    "MODELS",
    "InputSpec",
    "ModelConfig",
    "build_model",
    "classifier_names",
    "default_input",
    "describe",
    "float_model_names",
    "input_spec",
    "load_model",
]


def load_model(path) -> tuple[nn.Module, InputSpec]:
    """Rebuild a saved torchslim artifact from its description and tensors (no unpickled code): the
    description is checked, and the model it asks for is built within the file's bounds."""
    description, arch, state = read_model_file(path)
    saved = SavedDescription.of(description, path)
    if saved.input is None or not saved.model.name:
        raise CheckpointError(f"{path} describes no registry model and input; load it with torchslim.load(builder=)")
    spec = InputSpec(**saved.input.model_dump())
    elements = sum(t.numel() for t in state.values())
    try:
        cfg = ModelConfig(name=saved.model.name, kwargs=saved.model.kwargs)
        model = bounded_build(lambda: build_model(cfg, spec), elements, str(path))
    except CheckpointError:
        raise
    except ValidationError as exc:
        raise CheckpointError(f"{path}: its description is refused ({exc.errors()[0]['msg']})") from None
    except Exception as exc:  # any builder failure on what a file says is the file's
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"{path}: the model it describes cannot be built ({type(exc).__name__}: {first})"
        ) from None
    model = fill(model, arch, state, f"{path}: its tensors do not fit the architecture it describes")
    try:
        runs_on(model, spec.shape)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{path}: the model it describes does not run ({type(exc).__name__}: {first})") from None
    return model, spec


def runs_on(model: nn.Module, shape: tuple[int, ...]) -> None:
    """Run the model on fake tensors of ``shape``: the architecture a file states (strides, groups
    ...) must run on the input it states, and checking it allocates nothing (the input a file
    states is untrusted too: 3x16384x16384 would be a 3 GB batch of one). A forward that reads the
    values of its tensors (LeViT's and EfficientFormer's attention-bias lookups, an ``.item()``) cannot
    run on fake tensors at all: that is no fault of the file, and such a model is not checked here (its
    size was bounded when it was built). Without this, every pruned LeViT failed to load."""
    import logging

    from torch._subclasses import fake_tensor

    unfakeable = (
        fake_tensor.DataDependentOutputException,
        fake_tensor.DynamicOutputShapeException,
        fake_tensor.UnsupportedOperatorException,
    )
    log = logging.getLogger("torch._subclasses.fake_tensor")
    level, log.level = log.level, logging.CRITICAL  # a failing op is reported by our error, once
    before = {id(m): set(vars(m)) for m in model.modules()}
    try:
        with torch.no_grad(), fake_tensor.FakeTensorMode(allow_non_fake_inputs=True):
            model(torch.empty(1, *shape))
    except unfakeable:
        return
    finally:
        log.setLevel(level)
        drop_fake_leftovers(model, before)


def drop_fake_leftovers(model: nn.Module, before: dict[int, set[str]]) -> None:
    """Forget what a fake run cached: LeViT keeps its attention biases in a dict filled by the first
    eval forward, and a fake tensor left there made every later real forward fail."""
    from torch._subclasses.fake_tensor import FakeTensor

    for m in model.modules():
        for name, value in list(vars(m).items()):
            if isinstance(value, FakeTensor) and name not in before.get(id(m), ()):
                delattr(m, name)
            elif isinstance(value, dict) and name not in ("_parameters", "_buffers", "_modules"):
                for key in [k for k, v in value.items() if isinstance(v, FakeTensor)]:
                    del value[key]


def fill(model: nn.Module, arch: dict, state: dict, misfit: str) -> nn.Module:
    """Re-apply a saved model's widths to a freshly built one, load its tensors, and return it in
    eval mode; ``misfit`` opens the one-line error when they do not fit."""
    try:
        apply_architecture(model, arch, state)
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"{misfit} ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]})") from None
    return model.eval()


def describe(cfg: ModelConfig, spec: InputSpec) -> dict:
    """The plain-data description stored beside a model's tensors."""
    return {"model": {"name": cfg.name, "kwargs": cfg.kwargs}, "input": dataclasses.asdict(spec)}


def input_spec(data: DataBundle) -> InputSpec:
    """What a model is built for on ``data``: its class count, channels and image size."""
    return InputSpec(data.info.num_classes, data.info.in_channels, data.info.image_size)
