"""The method catalog: the modules that register compression methods, imported on first lookup.

The method registry (``torchslim.methods.METHODS``) loads this catalog the first time someone
asks it for a method, so ``import torchslim.models`` or ``import torchslim.config`` never pulls in
pruning or quantization code. Third-party methods join through the ``torchslim.methods`` entry-point
group: a package declares ``[project.entry-points."torchslim.methods"] mine = "my_pkg.my_method"``
and its module calls ``register_method``; no torchslim file is edited.
"""

from __future__ import annotations

from torchslim.registry import load_catalog

#: Modules whose import registers torchslim's own methods (each calls ``register_method``).
BUILTIN_MODULES = (
    "torchslim.prune.unstructured",
    "torchslim.prune.structured",
    "torchslim.prune.idap",
    "torchslim.prune.depth",
    "torchslim.prune.sfp",
    "torchslim.prune.swd",
    "torchslim.prune.obc",
    "torchslim.quant.ort_int8",
    "torchslim.quant.qat",
    "torchslim.quant.lowbit",
    "torchslim.quant.hawq",
    "torchslim.distill.kd",
    "torchslim.tune.finetune",
)
ENTRY_POINT_GROUP = "torchslim.methods"


def load() -> None:
    """Import every built-in method module, then every installed plugin's."""
    load_catalog(BUILTIN_MODULES, ENTRY_POINT_GROUP, "method")
