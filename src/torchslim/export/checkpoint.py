"""Checkpoints as plain tensors and numbers, read with ``torch.load(weights_only=True)``.

A checkpoint never holds pickled code, so opening a file from someone else cannot run it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchslim.errors import CheckpointError, DiskFullError, is_disk_full, missing_file
from torchslim.export.architecture import architecture
from torchslim.export.sparse import decode, encode
from torchslim.export.untrusted import check_architecture, check_plain, check_tensors, mapping

LOW_SPACE = 64 << 20  # bytes: a failed write with less free than this is a full disk


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """Write to a temporary file, then rename: a killed process never leaves half a checkpoint, and
    a failed write removes its half (torch's writer says "unexpected pos", not "disk full")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(obj, tmp)
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc) or shutil.disk_usage(path.parent).free < LOW_SPACE:
            raise DiskFullError(
                f"disk full while writing '{path}' ({shutil.disk_usage(path.parent).free >> 20} MB free): free "
                "space and run the same command again; what finished is kept"
            ) from None
        raise
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # e.g. the target is a folder: no half-made file is left beside it
        raise


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes: a checkpoint enters a task's key by what it holds, not where it is."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(missing_file(path, "checkpoint"))
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"cannot read checkpoint '{path}': not a file of plain tensors loadable with weights_only=True "
            "(it is corrupt, or it pickles Python objects, which torchslim never unpickles)"
        ) from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot read checkpoint '{path}': not a file of plain tensors loadable with weights_only=True ({reason})"
        ) from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint '{path}' holds a {type(blob).__name__}, expected a dict of tensors")
    return blob


def state_dict_from(blob: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Accept a bare state dict, a training checkpoint (under ``model`` or ``state_dict``) or a
    torchslim artifact; the ``module.`` prefix DataParallel leaves on every key is dropped."""
    if blob.get("format") == FORMAT:
        return decode(blob.get("tensors"))
    sd = blob.get("model", blob.get("state_dict", blob))
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(
            "checkpoint holds no state dict: expected tensors at the top level or under 'model' or 'state_dict'"
        )
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


FORMAT = "torchslim.model/2"


def save_model(model: nn.Module, path: Path, description: dict[str, Any]) -> None:
    """A self-describing artifact: sparse-encoded tensors, the architecture as plain data, and the
    description (registry name, kwargs, input spec) needed to rebuild the module. No pickled code.
    """
    full = model.state_dict()
    state = {k: v.detach().contiguous() for k, v in full.items()}
    save_atomic(
        {
            "format": FORMAT,
            "description": description,
            "architecture": architecture(model),
            "tensors": encode(state),
            "buffers": encode(non_persistent_buffers(model)),
            "metadata": state_metadata(full),
        },
        path,
    )


def non_persistent_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The buffers ``state_dict`` leaves out (``persistent=False``), by their state-dict key. A cut can
    resize them (EVA's zero ``k_bias`` beside a fused ``qkv``), and a model rebuilt from its builder
    would otherwise have them at their original size."""
    return {
        f"{name}.{b}" if name else b: t.detach().contiguous()
        for name, module in model.named_modules()
        for b, t in module._buffers.items()
        if t is not None and b in module._non_persistent_buffers_set
    }


def state_metadata(state: dict) -> dict[str, dict[str, Any]]:
    """The state dict's per-module ``_metadata`` (format versions), as plain data: some modules'
    ``load_state_dict`` refuses tensors without it (torchvision's MNASNet: "version should be set")."""
    meta = getattr(state, "_metadata", None) or {}
    return {
        prefix: {k: v for k, v in entry.items() if isinstance(v, (bool, int, float, str))}
        for prefix, entry in meta.items()
    }


def read_model_file(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """(description, architecture, state dict) of a torchslim artifact, every part checked against
    :mod:`torchslim.export.untrusted`'s bounds before it is used."""
    blob = read_checkpoint(path)
    if blob.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is not a torchslim model artifact (format {str(blob.get('format'))[:60]!r}, expected "
            f"{FORMAT!r}); give a registry model name with checkpoint: instead"
        )
    try:
        missing = {"description", "architecture", "tensors"} - blob.keys()
        if missing:
            raise CheckpointError(f"it lacks {', '.join(sorted(missing))}")
        description = mapping(blob["description"], "description")
        check_plain(description, "description")
        arch = check_architecture(blob["architecture"])
        metadata = mapping(blob.get("metadata", {}), "metadata")
        check_plain(metadata, "metadata")
        for prefix, entry in metadata.items():
            mapping(entry, f"metadata.{prefix}")
        check_tensors(blob["tensors"])
        state = OrderedDict(decode(blob["tensors"]))
        if "buffers" in blob:  # files written before it carried none: the builder's own are kept
            check_tensors(blob["buffers"])
            state._non_persistent = OrderedDict(decode(blob["buffers"]))
    except CheckpointError as exc:
        raise CheckpointError(f"'{path}' is a damaged torchslim model file: {exc}") from None
    state._metadata = metadata  # files written before it carried none: modules' defaults
    return description, arch, state
