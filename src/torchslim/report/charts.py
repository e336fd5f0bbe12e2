"""Terminal bar charts, drawn to scale from measured values (seed 001's bars were drawn by eye)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BarChart:
    title: str
    labels: list[str]
    values: list[float | None]  # None = not measured, said so in the bar's place
    unit: str = ""
    fmt: str = "{:.2f}"
    width: int = 40
    note: str = ""

    def text(self) -> str:
        present = [v for v in self.values if v is not None]
        top = max(present) if present else 0.0
        pad = max((len(x) for x in self.labels), default=0)
        lines = [self.title]
        for label, v in zip(self.labels, self.values):
            if v is None:
                lines.append(f"{label:<{pad}} | not measured")
                continue
            n = round(self.width * v / top) if top > 0 else 0
            bar = "█" * n + ("▏" if n == 0 else "")
            lines.append(f"{label:<{pad}} |{bar:<{self.width}} {self.fmt.format(v)}{self.unit}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


@dataclass
class PairedBarChart:
    """Two measures per item on one scale, e.g. size reduction and speed gain (seed 001's trade-off bars)."""

    title: str
    items: list[tuple[str, float | None, float | None]]  # (label, first, second)
    names: tuple[str, str]
    unit: str = "%"
    fmt: str = "{:.1f}"
    width: int = 40
    note: str = ""

    def text(self) -> str:
        values = [v for _, a, b in self.items for v in (a, b) if v is not None]
        top = max((abs(v) for v in values), default=0.0)
        pad = max(len(n) for n in self.names)
        lines = [self.title]
        for label, *pair in self.items:
            lines.append(f"{label}:")
            for name, v in zip(self.names, pair):
                if v is None:
                    lines.append(f"  {name:<{pad}} | not measured")
                    continue
                n = round(self.width * max(v, 0.0) / top) if top > 0 else 0
                lines.append(f"  {name:<{pad}} |{'█' * n or '▏'} {self.fmt.format(v)}{self.unit}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)
