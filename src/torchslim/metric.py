"""A task kind's primary metric and its direction: top-1 (higher is better), mAP50-95 (higher), FID (lower).

Everything that ranks or compares results (a method's drop, a search's budget, the report's order)
asks the metric which way is better instead of assuming accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """The stored row's metric key, how reports label it, and which direction is better."""

    key: str  # the key in a stored row's metrics, e.g. "top1", "map50_95", "fid"
    label: str  # e.g. "Top-1 (%)", "mAP50-95", "FID (ResNet-20 features)"
    higher_is_better: bool = True

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    def loss(self, before: float, after: float) -> float:
        """How much worse ``after`` is than ``before``, in the metric's units (negative: it improved)."""
        return before - after if self.higher_is_better else after - before

    def best(self, values: list[float]) -> float:
        return max(values) if self.higher_is_better else min(values)

    def goodness(self, value: float) -> float:
        """The value oriented so that higher is better (FID negated): what a method compares and ranks."""
        return value if self.higher_is_better else -value


TOP1 = Metric("top1", "Top-1 (%)", higher_is_better=True)
