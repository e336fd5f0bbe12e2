"""Bits per layer by integer linear programming (HAWQ-V3, section 3.3), solved by SciPy's ``milp`` (HiGHS).

One binary x[i, b] per layer i and bit width b: each layer takes exactly one width, the summed
cost (weight bits, or bit operations) stays within the budget, and the summed sensitivity Ω[i, b]
is minimal. Few variables (layers x widths), so the solve is instant and exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torchslim.errors import ConfigError


@dataclass(frozen=True)
class LayerChoice:
    """What the program knows of one layer: its sensitivity and cost at each width."""

    name: str
    omega: dict[int, float]  # bits -> sensitivity
    cost: dict[int, float]  # bits -> weight bits, or bit operations


def allocate_bits(layers: list[LayerChoice], budget: float) -> dict[str, int]:
    """The width of each layer minimising Σ Ω under Σ cost ≤ ``budget``; a budget below the
    cheapest choice is one clear error naming the least it can be."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    widths = sorted({b for layer in layers for b in layer.omega})
    n, k = len(layers), len(widths)
    cheapest = sum(min(layer.cost.values()) for layer in layers)
    if budget < cheapest * (1 - 1e-9):
        raise ConfigError(
            f"the budget ({budget:,.0f}) is below the cheapest bit map ({cheapest:,.0f}: every layer at "
            f"{widths[0]} bits); raise it"
        )
    best = {layer.name: min(layer.omega, key=lambda b: (layer.omega[b], -b)) for layer in layers}
    if sum(layer.cost[best[layer.name]] for layer in layers) <= budget:
        return best  # every layer's least sensitive width fits: nothing to trade
    scale = max(max(layer.omega.values()) for layer in layers) or 1.0  # HiGHS's gap is relative: keep Ω near 1
    big = 1e6  # a width a layer does not offer
    c = np.array([layer.omega[b] / scale if b in layer.omega else big for layer in layers for b in widths])
    cost = np.array([layer.cost.get(b, 0.0) for layer in layers for b in widths])
    one_each = np.zeros((n, n * k))
    for i in range(n):
        one_each[i, i * k : (i + 1) * k] = 1
    constraints = [LinearConstraint(one_each, 1, 1), LinearConstraint(cost[None, :], -np.inf, budget)]
    result = milp(
        c, constraints=constraints, integrality=np.ones(n * k), bounds=Bounds(0, 1), options={"mip_rel_gap": 1e-9}
    )
    if result.x is None:
        raise ConfigError(f"no bit map fits the budget ({budget:,.0f}): {result.message}")
    x = result.x.reshape(n, k).round().astype(int)
    return {layer.name: widths[int(np.argmax(row))] for layer, row in zip(layers, x)}
