"""Compression methods: one registry, one small pydantic config per method, one in-place verb.

Like torchao's ``quantize_(model, config)``: a method is registered with its config class and a
handler ``apply(model, config, ctx) -> model``. A recipe lists *chains* of methods; each chain is
applied to the trained baseline of the same model and seed.
"""

from torchslim.methods.base import METHODS, Chain, MethodContext, MethodStep, apply_chain, register_method

from torchslim.prune import idap, structured, unstructured  # noqa: E402,F401  (registers the pruning methods)
from torchslim.distill import kd  # noqa: E402,F401  (registers distill.kd)
from torchslim.quant import lowbit, ort_int8, qat  # noqa: E402,F401  (registers the quantization methods)

__all__ = ["METHODS", "Chain", "MethodContext", "MethodStep", "apply_chain", "register_method"]
