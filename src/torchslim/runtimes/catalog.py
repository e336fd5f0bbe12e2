"""The runtime catalog: torchslim's own runtime modules, then installed plugins'."""

from __future__ import annotations

from torchslim.registry import load_catalog

BUILTIN_MODULES = (
    "torchslim.runtimes.torch_eager",
    "torchslim.runtimes.onnxruntime",
    "torchslim.runtimes.openvino",
    "torchslim.runtimes.torch_compile",
)
ENTRY_POINT_GROUP = "torchslim.runtimes"


def load() -> None:
    load_catalog(BUILTIN_MODULES, ENTRY_POINT_GROUP, "runtime")
