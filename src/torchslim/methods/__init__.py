"""The methods API: the registry with each method's facts, chains, and what a method may use.

Method implementations live in ``prune/``, ``quant/`` and ``distill/`` and import this package;
this package never imports them. ``torchslim.catalog`` lists them and is loaded on first lookup.
"""

from torchslim.methods.chain import Chain, MethodStep, apply_chain
from torchslim.methods.context import MethodContext
from torchslim.methods.registry import METHODS, MethodConfig, MethodFacts, known_method, method_facts, register_method

__all__ = [
    "METHODS",
    "Chain",
    "MethodConfig",
    "MethodContext",
    "MethodFacts",
    "MethodStep",
    "apply_chain",
    "known_method",
    "method_facts",
    "register_method",
]
