"""The method catalog: the modules that register compression methods, imported on first lookup.

The method registry (``torchslim.methods.METHODS``) loads this catalog the first time someone
asks it for a method, so ``import torchslim.models`` or ``import torchslim.config`` never pulls in
pruning or quantization code. Third-party methods join through the ``torchslim.methods`` entry-point
group: a package declares ``[project.entry-points."torchslim.methods"] mine = "my_pkg.my_method"``
and its module calls ``register_method``; no torchslim file is edited.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from torchslim.errors import TorchslimError

#: Modules whose import registers torchslim's own methods (each calls ``register_method``).
BUILTIN_MODULES = (
    "torchslim.prune.unstructured",
    "torchslim.prune.structured",
    "torchslim.prune.idap",
    "torchslim.prune.depth",
    "torchslim.quant.ort_int8",
    "torchslim.quant.qat",
    "torchslim.quant.lowbit",
    "torchslim.distill.kd",
)
ENTRY_POINT_GROUP = "torchslim.methods"


def load() -> None:
    """Import every built-in method module, then every installed plugin's."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
            raise TorchslimError(
                f"method plugin '{ep.name}' ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            ) from None
