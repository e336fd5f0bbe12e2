"""Runtimes: where a model is deployed and timed (PyTorch eager, ONNX Runtime, OpenVINO, ...).

One module per runtime registers a :class:`~torchslim.runtimes.base.Runtime` with its facts: its
label, whether it runs the PyTorch module or the ONNX file, its precisions, the package it needs,
and how it builds a timed call at a fixed thread count. Everything that times or names a runtime
(``measure.runtimes``, ``torchslim bench --runtimes``, ``compress(latency=...)``, the validators)
reads :data:`RUNTIMES`. A third-party runtime joins through the ``torchslim.runtimes`` entry-point
group, or by calling ``RUNTIMES.register`` in a module the user imports.
"""

from torchslim.runtimes.base import RUNTIMES, Runtime, Variant, needs_onnx, runtime_facts

__all__ = ["RUNTIMES", "Runtime", "Variant", "needs_onnx", "runtime_facts"]
