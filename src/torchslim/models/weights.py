"""Weights from a local file into a model built for the dataset: checkpoints and cached pretrained weights.

A model pretrained on ImageNet (1000 classes, RGB) is usually fine-tuned on a dataset with another
class count and sometimes another channel count. The model torchslim builds already fits the
dataset, so two mismatches are expected and handled the way the field handles them, and recorded:
the classifier keeps its fresh head (``head replaced``), and a stem convolution's RGB kernels are
folded to the dataset's channels with timm's ``adapt_input_conv``. Any other mismatch is an error.

``pretrained: true`` reads torchvision's cache (``$TORCH_HOME/hub/checkpoints``) or timm's Hugging
Face cache; nothing is ever downloaded: a missing file is one line saying where to place it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from torchslim.errors import CheckpointError, DataNotFoundError, missing_file
from torchslim.export.checkpoint import read_checkpoint, state_dict_from
from torchslim.models.base import MODELS, InputSpec


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (timm's cache) or of a plain-tensor torch file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not path.is_file():
            raise CheckpointError(missing_file(path, "checkpoint"))
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"cannot read safetensors file '{path}': {exc}") from None
    return state_dict_from(read_checkpoint(path))


def load_weights(model: nn.Module, path: Path, spec: InputSpec) -> list[str]:
    """Load ``path`` into ``model`` (built for ``spec``); returns what was adapted, one note per layer."""
    sd = read_state_dict(path)
    adapt = getattr(model, "adapt_state_dict", None)  # a model class that knows published layouts of its weights
    renamed: list[str] = []
    if callable(adapt):
        sd, renamed = adapt(sd)
    own = model.state_dict()
    for k in own:  # files saved before PyTorch 0.4.1 have no batch-norm step counter; it is never read in eval
        if k.endswith(".num_batches_tracked") and k not in sd:
            sd[k] = own[k]
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    heads = [k for k in wrong if is_head(own[k], sd[k], spec)]
    stems = [k for k in wrong if is_stem(own[k], sd[k], spec)]
    other = [k for k in wrong if k not in heads and k not in stems]
    if missing or unexpected or other:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", other)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CheckpointError(f"checkpoint '{path}' does not fit this model: {'; '.join(parts)}")
    from timm.models import adapt_input_conv

    notes = [f"stem adapted: {k} ({sd[k].shape[1]} -> {spec.in_channels} input channels)" for k in stems]
    for k in stems:
        sd[k] = adapt_input_conv(spec.in_channels, sd[k].float(), base_chans=sd[k].shape[1]).to(own[k].dtype)
    classes = {k.rsplit(".", 1)[0]: int(sd[k].shape[0]) for k in heads}
    notes += [
        f"head replaced: {layer} ({n} -> {spec.num_classes} classes, newly initialised)"
        for layer, n in sorted(classes.items())
    ]
    for k in heads:
        sd[k] = own[k]  # the fresh head built for the dataset's classes
    model.load_state_dict(sd)
    return renamed + notes


def is_head(own: torch.Tensor, theirs: torch.Tensor, spec: InputSpec) -> bool:
    """A classifier weight or bias: only its leading (class) dimension differs, and ours is the class count."""
    return (
        own.dim() == theirs.dim()
        and own.shape[0] == spec.num_classes
        and own.shape[0] != theirs.shape[0]
        and own.shape[1:] == theirs.shape[1:]
    )


def is_stem(own: torch.Tensor, theirs: torch.Tensor, spec: InputSpec) -> bool:
    """A first convolution's kernel: only its input-channel dimension differs, and ours is the dataset's."""
    return (
        own.dim() == 4
        and theirs.dim() == 4
        and own.shape[1] == spec.in_channels
        and own.shape[1] != theirs.shape[1]
        and (own.shape[0], *own.shape[2:]) == (theirs.shape[0], *theirs.shape[2:])
    )


def pretrained_file(name: str) -> Path:
    """The locally cached pretrained weights of ``torchvision:NAME`` or ``timm:NAME``; never downloads."""
    prefix, rest = MODELS.split(name)
    if prefix == "torchvision":
        return torchvision_cached(rest)
    if prefix == "timm":
        return timm_cached(rest)
    raise CheckpointError(
        f"pretrained: true is for torchvision: and timm: models; '{name}' has no published weights "
        "(give checkpoint: PATH instead)"
    )


def torchvision_cached(name: str) -> Path:
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        raise CheckpointError(f"torchvision:{name} publishes no pretrained weights") from None
    filename = weights.url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not path.is_file():
        raise DataNotFoundError(
            f"no local pretrained weights for torchvision:{name}: place {filename} (from {weights.url}) at {path} "
            "($TORCH_HOME/hub/checkpoints); torchslim never downloads"
        )
    return path


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(home) / "hub"


def timm_cached(name: str) -> Path:
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise CheckpointError(f"timm:{name} has no Hugging Face weights to look up (give checkpoint: PATH instead)")
    cache = hf_cache_dir()
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename, cache_dir=str(cache))
        if isinstance(found, str):
            return Path(found)
    folder = cache / f"models--{repo.replace('/', '--')}"
    raise DataNotFoundError(
        f"no local pretrained weights for timm:{name}: place model.safetensors from the Hugging Face repo {repo} "
        f"in {folder}/snapshots/<revision>/ (with refs/main naming the revision), e.g. by "
        f"'huggingface-cli download {repo}' on a machine with internet; torchslim never downloads"
    )
