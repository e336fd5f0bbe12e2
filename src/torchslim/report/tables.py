"""Markdown tables. A cell is either a measured value or says why it is absent: never 'xx.xx'."""

from __future__ import annotations

from typing import Sequence


def markdown_cell(value: object) -> str:
    """A cell's text as markdown shows it: a '|' (a folder or label may hold one) no longer splits the
    row, a '<' no longer opens raw HTML, and a line break no longer ends the table."""
    text = " ".join(str(value).splitlines())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """``align`` is one character per column: 'l' or 'r'."""
    align = align or "l" * len(headers)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(map(markdown_cell, headers)) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def human_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


class Table:
    """A table that renders to markdown, HTML and the terminal alike; ``bold`` marks best cells.

    Cells are display strings (already formatted); ``bold`` holds (row, column) pairs.
    """

    def __init__(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[object]],
        align: str | None = None,
        bold: set[tuple[int, int]] | None = None,
        title: str = "",
    ):
        self.headers = [str(h) for h in headers]
        self.rows = [[str(c) for c in r] for r in rows]
        self.align = align or "l" * len(self.headers)
        self.bold = bold or set()
        self.title = title

    def markdown(self) -> str:
        rows = [[f"**{c}**" if (i, j) in self.bold else c for j, c in enumerate(r)] for i, r in enumerate(self.rows)]
        return markdown_table(self.headers, rows, self.align)

    def html(self) -> str:
        from html import escape

        def td(tag: str, text: str, j: int, strong: bool) -> str:
            style = ' class="num"' if self.align[j] == "r" else ""
            body = escape(text)
            return f"<{tag}{style}>{'<b>' + body + '</b>' if strong else body}</{tag}>"

        head = "".join(td("th", h, j, False) for j, h in enumerate(self.headers))
        body = "\n".join(
            "<tr>" + "".join(td("td", c, j, (i, j) in self.bold) for j, c in enumerate(r)) + "</tr>"
            for i, r in enumerate(self.rows)
        )
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"

    def rich(self):
        from rich.markup import escape
        from rich.table import Table as RichTable

        t = RichTable(title=self.title or None, show_lines=False)
        for h, a in zip(self.headers, self.align):
            t.add_column(escape(h), justify="right" if a == "r" else "left")
        for i, r in enumerate(self.rows):
            t.add_row(*[f"[bold]{escape(c)}[/bold]" if (i, j) in self.bold else escape(c) for j, c in enumerate(r)])
        return t


def best_cells(values: Sequence[float | None], column: int, lower_is_better: bool) -> set[tuple[int, int]]:
    """The (row, column) cells holding the best value of a column; ties are all bold."""
    present = [v for v in values if v is not None]
    if not present:
        return set()
    best = min(present) if lower_is_better else max(present)
    return {(i, column) for i, v in enumerate(values) if v is not None and abs(v - best) <= 1e-12 * max(1.0, abs(best))}
