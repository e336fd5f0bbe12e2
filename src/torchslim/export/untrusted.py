"""What a model file says is checked before anything it says is allocated, built or opened.

A ``model.pt`` may come from someone else. ``torch.load(weights_only=True)`` already refuses
pickled code; this module bounds the rest:

- plain data (the description, the architecture) is builtins only (string or integer keys), at
  most ``MAX_DEPTH`` deep and ``MAX_ITEMS`` values in all, with strings of at most ``MAX_STRING`` characters;
- a sparse tensor's declared shape must agree with the mask and values actually in the file, so
  decoding allocates at most 8 elements per mask byte present;
- the model the description asks for is first built on the ``meta`` device (no memory), and is
  refused when it holds more than ``BUILD_FACTOR`` times the file's elements (at least
  ``BUILD_FLOOR``): a few kwargs (``width_mult: 2000``) cannot ask for 32 GB. A builder that cannot
  run on ``meta`` is built under an allocation cap of ``CAP_BYTES_PER_ELEMENT`` bytes per element;
- while it is built, no file outside Python's own libraries is opened and no socket connects, so
  no kwarg (``checkpoint_path``) can make a library read a file the model file names.
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from torchslim.errors import CheckpointError

MAX_DEPTH = 32
MAX_ITEMS = 200_000
MAX_STRING = 100_000
MAX_DIMS = 8
BUILD_FACTOR = 64
BUILD_FLOOR = 1 << 24  # elements: 64 MB of float32, enough for any small model a file of a few KB describes
SCALARS = (bool, int, float, str, type(None))


def check_plain(value: Any, where: str) -> None:
    """Refuse anything but bounded builtins (dicts with string keys, lists, tuples, scalars)."""
    count = 0
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, at, depth = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            raise CheckpointError(f"{where} holds more than {MAX_ITEMS:,} values")
        if depth > MAX_DEPTH:
            raise CheckpointError(f"{at} is nested more than {MAX_DEPTH} deep")
        if type(item) is str and len(item) > MAX_STRING:
            raise CheckpointError(f"{at} is a string of {len(item):,} characters (at most {MAX_STRING:,})")
        if type(item) is dict:
            for k, v in item.items():
                if type(k) not in (str, int):
                    raise CheckpointError(f"{at} has a key of type {type(k).__name__}; keys are strings or integers")
                stack.append((v, f"{at}.{k}", depth + 1))
        elif type(item) in (list, tuple):
            stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))
        elif type(item) not in SCALARS:
            raise CheckpointError(
                f"{at} is a {type(item).__name__}; only plain numbers, strings and lists belong there"
            )


def mapping(value: Any, where: str) -> dict:
    if type(value) is not dict:
        raise CheckpointError(f"{where} is a {type(value).__name__}, expected a mapping")
    return value


def check_architecture(arch: Any) -> dict[str, dict[str, Any]]:
    """``{module name: {attribute: plain value}}``, nothing else."""
    check_plain(mapping(arch, "architecture"), "architecture")
    for name, attrs in arch.items():
        mapping(attrs, f"architecture.{name}")
    return arch


def sparse_elements(name: str, entry: Any) -> int:
    """The element count a sparse entry decodes to, once its shape, mask and values agree."""
    entry = mapping(entry, f"tensors.sparse.{name}")
    missing = {"shape", "mask", "values"} - entry.keys()
    if missing:
        raise CheckpointError(f"tensors.sparse.{name} lacks {', '.join(sorted(missing))}")
    shape, mask, values = entry["shape"], entry["mask"], entry["values"]
    if type(shape) not in (tuple, list) or len(shape) > MAX_DIMS or any(type(d) is not int or d < 0 for d in shape):
        raise CheckpointError(
            f"tensors.sparse.{name} has shape {str(shape)[:80]}: expected at most {MAX_DIMS} non-negative integers"
        )
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.uint8 or mask.dim() != 1:
        raise CheckpointError(f"tensors.sparse.{name}.mask is not a 1-D uint8 tensor")
    if not isinstance(values, torch.Tensor) or not values.is_floating_point() or values.dim() != 1:
        raise CheckpointError(f"tensors.sparse.{name}.values is not a 1-D floating-point tensor")
    n = math.prod(shape)
    if mask.numel() != (n + 7) // 8:
        raise CheckpointError(
            f"tensors.sparse.{name} declares {n:,} elements but its mask holds {mask.numel() * 8:,} bits"
        )
    return n


def check_tensors(tensors: Any) -> int:
    """The elements the file's tensors decode to (dense plus sparse), once their structure holds."""
    tensors = mapping(tensors, "tensors")
    for part in ("dense", "sparse"):
        if part not in tensors:
            raise CheckpointError(f"tensors lacks its '{part}' part")
        mapping(tensors[part], f"tensors.{part}")
    total = 0
    for name, t in tensors["dense"].items():
        if type(name) is not str or not isinstance(t, torch.Tensor):
            raise CheckpointError(f"tensors.dense.{name} is a {type(t).__name__}, not a tensor")
        total += t.numel()
    for name, entry in tensors["sparse"].items():
        if type(name) is not str:
            raise CheckpointError("tensors.sparse has a key that is not a string")
        total += sparse_elements(name, entry)
    return total


def model_elements(model: nn.Module) -> int:
    return sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())


def bounded_build(build: Callable[[], nn.Module], file_elements: int, source: str) -> nn.Module:
    """Build what a model file describes: first on the meta device, to count it, then for real,
    with file and network access closed. A builder that cannot run on the meta device (one that
    reads a value back, as Ultralytics' stride probe does) is built for real under an allocation
    cap instead. ``source`` names the file in the one-line error."""
    limit = max(BUILD_FACTOR * file_elements, BUILD_FLOOR)
    refusal = (
        f"{source} describes a model larger than it can hold: refused (at most {BUILD_FACTOR}x the file's "
        f"{file_elements:,} elements, or {BUILD_FLOOR:,}, are built from a model file)"
    )
    with closed_files(source):
        try:
            with torch.device("meta"):
                counted = model_elements(build())
        except CheckpointError:
            raise
        except Exception:
            with AllocationCap(CAP_BYTES_PER_ELEMENT * limit, refusal):
                return build()
        if counted > limit:
            raise CheckpointError(f"{refusal[:-1]}; it asks for {counted:,})")
        return build()


CAP_BYTES_PER_ELEMENT = 16  # float32 weights, plus the temporaries of their initialisation and a probe
FACTORIES = {"empty", "empty_strided", "zeros", "ones", "full", "rand", "randn", "randint", "new_empty",
             "new_empty_strided", "new_zeros", "new_ones", "new_full"}  # fmt: skip


class AllocationCap(TorchDispatchMode):
    """Refuse any allocation that would take the total of new storage past ``limit`` bytes (never
    freed, so an upper bound on the peak): a factory's size is checked before it allocates."""

    def __init__(self, limit: int, refusal: str):
        super().__init__()
        self.limit, self.refusal, self.used = limit, refusal, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in FACTORIES:
            size = next((a for a in args if isinstance(a, (list, tuple))), None)
            if size is not None and self.used + 8 * math.prod(int(d) for d in size) > self.limit:
                raise CheckpointError(self.refusal)
        out = func(*args, **kwargs)
        known = {t.untyped_storage().data_ptr() for t in pytree.tree_leaves((args, kwargs)) if _real(t)}
        for t in pytree.tree_leaves(out):
            if _real(t) and t.untyped_storage().data_ptr() not in known:
                self.used += t.untyped_storage().nbytes()
        if self.used > self.limit:
            raise CheckpointError(self.refusal)
        return out


def _real(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type != "meta"


_guard = threading.local()
_hook_installed = False


def _allowed_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/dev/", "/proc/", "/sys/"}
    roots |= {str(Path(p).resolve()) for p in sys.path if p}
    return tuple(sorted(r for r in roots if r not in ("", "/")))


def _audit(event: str, args: tuple) -> None:
    source = getattr(_guard, "source", None)
    if source is None:
        return
    if event in ("socket.connect", "socket.getaddrinfo"):
        raise CheckpointError(f"{source}: building the model it describes tried to reach the network; refused")
    if event == "open" and isinstance(args[0], (str, bytes, Path)):
        path = str(Path(args[0].decode() if isinstance(args[0], bytes) else args[0]).resolve())
        if not path.startswith(_guard.roots):
            raise CheckpointError(
                f"{source}: building the model it describes tried to open '{path}'; "
                "a model file never names another file to open"
            )


@contextmanager
def closed_files(source: str) -> Iterator[None]:
    """Within: opening a file outside Python's libraries, or connecting a socket, raises."""
    global _hook_installed
    if not _hook_installed:
        tempfile.gettempdir()  # it probes the temp folder once per process; do it before the guard
        sys.addaudithook(_audit)
        _hook_installed = True
    _guard.roots = _allowed_roots()
    _guard.source = source
    try:
        yield
    finally:
        _guard.source = None
