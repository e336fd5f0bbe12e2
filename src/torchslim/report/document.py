"""A report as a list of sections of blocks, rendered alike to markdown, self-contained HTML and the terminal."""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from torchslim.report.charts import BarChart, PairedBarChart
from torchslim.report.svg_charts import chart_svg
from torchslim.report.tables import Table


@dataclass
class Text:
    """Paragraphs in a small markdown subset: '- ' bullets, **bold** and `code`."""

    body: str


@dataclass
class Figure:
    path: Path  # a PNG written next to the report
    caption: str


Block = Union[Text, Table, BarChart, PairedBarChart, Figure]
CHARTS = (BarChart, PairedBarChart)


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class Document:
    title: str
    intro: str
    sections: list[Section]


def to_markdown(doc: Document, folder: Path) -> str:
    """Every label (a run, model or folder name may hold '<' or a fence) is text, never HTML or markup."""
    out = [f"# {md_line(doc.title)}", "", md_text(doc.intro), ""]
    for s in doc.sections:
        out += ["#" * s.level + " " + md_line(s.title), ""]
        for b in s.blocks:
            if isinstance(b, Table):
                out += [f"*{md_line(b.title)}*", ""] if b.title else []
                out += [b.markdown(), ""]
            elif isinstance(b, CHARTS):
                text = b.text()
                fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
                out += [f"{fence}text", text, fence, ""]
            elif isinstance(b, Figure):
                caption = md_line(b.caption)
                alt = caption.replace("[", "\\[").replace("]", "\\]")
                out += [f"![{alt}]({b.path.relative_to(folder).as_posix()})", "", f"*{caption}*", ""]
            else:
                out += [md_text(b.body), ""]
    return "\n".join(out)


def md_text(text: str) -> str:
    """Markdown text with '<' and '>' as entities: torchslim writes no HTML, so any is a label's."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_line(text: str) -> str:
    """A heading, title or caption: escaped text on one line (a newline would end the heading)."""
    return md_text(" ".join(text.splitlines()))


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _text_html(body: str) -> str:
    parts, bullets = [], []
    for line in body.splitlines() + [""]:
        if line.startswith("- "):
            bullets.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if bullets:
            parts.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        if line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
    return "\n".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px}th{background:#f3f3f3}td.num,th.num{text-align:right}
pre{background:#f7f7f7;padding:0.8em;overflow-x:auto;font-size:0.85em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figure.chart svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:0.9em}
caption{font-style:italic;text-align:left;padding:4px 0}
"""


def to_html(doc: Document) -> str:
    """One file, no external resource: figures are embedded as data URIs and charts as inline SVG, so it
    opens offline."""
    out = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(doc.title)}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
        _text_html(doc.intro),
    ]
    for s in doc.sections:
        out.append(f"<h{s.level}>{html.escape(s.title)}</h{s.level}>")
        for b in s.blocks:
            if isinstance(b, Table):
                out.append(f"<p><i>{html.escape(b.title)}</i></p>" if b.title else "")
                out.append(b.html())
            elif isinstance(b, CHARTS):  # drawn as SVG; markdown and the terminal keep the text bars
                note = f"<figcaption>{html.escape(b.note)}</figcaption>" if b.note else ""
                out.append(f'<figure class="chart" aria-label="{html.escape(b.title)}">{chart_svg(b)}{note}</figure>')
            elif isinstance(b, Figure):
                data = base64.b64encode(b.path.read_bytes()).decode()
                out.append(
                    f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                )
            else:
                out.append(_text_html(b.body))
    out.append("</body></html>")
    return "\n".join(x for x in out if x)


def to_terminal(doc: Document, console, charts_only: bool = False) -> None:
    """Tables as rich tables, charts as text; ``charts_only`` prints just the bar charts and advice."""
    from rich.markup import escape
    from rich.rule import Rule

    console.print(Rule(escape(doc.title)))
    for s in doc.sections:
        blocks = [b for b in s.blocks if not charts_only or isinstance(b, (*CHARTS, Text))]
        if charts_only and not any(isinstance(b, CHARTS) for b in blocks) and "ecommend" not in s.title:
            continue
        console.print(f"\n[bold]{escape(s.title)}[/bold]")
        for b in blocks:
            if isinstance(b, Table):
                console.print(b.rich())
            elif isinstance(b, CHARTS):
                console.print(escape(b.text()), soft_wrap=True)
            elif isinstance(b, Figure):
                console.print(f"[dim]figure: {escape(str(b.path))}[/dim]")
            else:
                console.print(re.sub(r"\*\*(.+?)\*\*", r"[bold]\1[/bold]", escape(b.body)).replace("`", ""))


def code_span(text: str) -> str:
    """``text`` as one markdown code span on one line: fenced by more backticks than it holds in a row,
    so a backtick in a path or label cannot close the span and let the rest run as text (or as shell,
    should the report land in a script)."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` as a new regular file in its folder: a symbolic link there is replaced, never
    written through (a report folder from someone else may link report.md to a file of yours)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.write_text(text)
    os.replace(tmp, path)  # rename replaces a link itself, not what it points to


def write_document(doc: Document, folder: Path, formats, console=None, charts_only: bool = False) -> dict[str, Path]:
    """report.md / report.html in ``folder`` and the terminal view, as many of them as ``formats`` names."""
    written = {}
    if "md" in formats:
        written["md"] = folder / "report.md"
        replace_file(written["md"], to_markdown(doc, folder))
    if "html" in formats:
        written["html"] = folder / "report.html"
        replace_file(written["html"], to_html(doc))
    if "terminal" in formats and console is not None:
        to_terminal(doc, console, charts_only)
    return written
