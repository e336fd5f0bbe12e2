"""torchslim: compress PyTorch models and prove what each compression gained.

The public functions are imported lazily, so ``import torchslim`` stays cheap.
"""

__version__ = "0.1.0"

_LAZY = {
    "measure": ("torchslim.measure.bench", "measure"),
    "BenchConfig": ("torchslim.measure.bench", "BenchConfig"),
    "Measurement": ("torchslim.measure.bench", "Measurement"),
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
