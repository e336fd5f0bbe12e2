"""torchslim: compress PyTorch models and prove what each compression gained.

The public surface is this module's ``__all__``; its functions are imported lazily, so
``import torchslim`` stays cheap. (The measurement code lives in ``torchslim.measurement``: a
subpackage named ``measure`` would replace the ``torchslim.measure`` function once imported.)
"""

__version__ = "0.1.0"

_LAZY = {
    "measure": ("torchslim.measurement.bench", "measure"),
    "BenchConfig": ("torchslim.measurement.bench", "BenchConfig"),
    "Measurement": ("torchslim.measurement.bench", "Measurement"),
    "save": ("torchslim.api", "save"),
    "load": ("torchslim.api", "load"),
    "evaluate": ("torchslim.api", "evaluate"),
    "compress": ("torchslim.compression", "compress"),
    "CompressResult": ("torchslim.compression", "CompressResult"),
    "Accuracy": ("torchslim.measurement.accuracy", "Accuracy"),
    "load_config": ("torchslim.config", "load_config"),
    "run": ("torchslim.runner", "run"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'torchslim' has no attribute {name!r}")


__all__ = list(_LAZY)
