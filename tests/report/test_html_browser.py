"""The HTML report in a real browser: headless Debian Chromium, driven by Playwright, offline."""

from __future__ import annotations

import io
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from torchslim.report.charts import BarChart, PairedBarChart
from torchslim.report.svg_charts import COLOURS, chart_svg

CHROMIUM = os.environ.get("TORCHSLIM_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package; "
            "or set TORCHSLIM_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which(CHROMIUM) or CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def coloured_pixels(png: bytes, colour: str) -> int:
    """How many pixels of a screenshot are ``colour`` (#rrggbb), within a small tolerance."""
    import numpy as np
    from PIL import Image

    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(pixels - target) <= 6).all(axis=-1).sum())


BAR_WIDTHS = """sel => Array.from(document.querySelectorAll(sel)).map(g => [g.id, g.getBoundingClientRect().width])"""


def test_html_report_renders_every_table_chart_and_image_offline(tiny_run):
    report = tiny_run / "runs" / "tiny" / "report.html"
    md = (tiny_run / "runs" / "tiny" / "report.md").read_text()
    expected_tables = sum(1 for line in md.splitlines() if line.startswith("| :---") or line.startswith("| ---:"))
    expected_charts = md.count("```text")
    shot = tiny_run / "runs" / "tiny" / "report-screenshot.png"
    requests: list[str] = []
    with browser_page() as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        tables = page.locator("table").count()
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        charts = page.locator("figure.chart svg")
        n_charts = charts.count()
        bars = page.evaluate(BAR_WIDTHS, "figure.chart g[id*='-bar-']")
        chart_png = charts.first.screenshot()
        headings = page.locator("h2").all_inner_texts()
        text = page.inner_text("body")
        page.screenshot(path=str(shot), full_page=True)
    assert tables == expected_tables and tables >= 8
    assert len(images) == 4 and all(done and w > 100 and h > 100 for done, w, h in images), images
    # seed 001's bar charts are drawn, not ASCII: one SVG per chart, each with bars of real width
    assert n_charts == expected_charts >= 3 and "█" not in text
    assert len(bars) >= n_charts and max(w for _, w in bars) > 100, bars
    assert coloured_pixels(chart_png, COLOURS[0]) > 500
    assert "Multi-seed results" in headings and "Hardware and software" in headings
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # self-contained: nothing fetched
    assert shot.stat().st_size > 20_000
    # speedups timed side by side carry their 95 % interval, e.g. "1.52x (1.41–1.60)"
    assert re.search(r"\d+\.\d\dx \(\d+\.\d\d–\d+\.\d\d\)", text), "no speedup interval in the report"


def test_svg_bars_are_drawn_to_scale_negative_left_of_zero(tmp_path):
    bars = BarChart("Size (MB)", ["original", "int8 | $x$", "not timed"], [4.0, 1.0, None], " MB")
    pairs = PairedBarChart("Size vs speed", [("prune", 60.0, -20.0), ("int8", 75.0, 40.0)], ("Size", "Speed"))
    page_file = tmp_path / "charts.html"
    page_file.write_text(f"<!DOCTYPE html><html><body>{chart_svg(bars)}{chart_svg(pairs)}</body></html>")
    with browser_page() as page:
        page.goto(page_file.as_uri(), wait_until="load")
        widths = dict(page.evaluate(BAR_WIDTHS, "g[id*='-bar-']"))
        lefts = dict(
            page.evaluate(
                "sel => Array.from(document.querySelectorAll(sel)).map(g => [g.id, g.getBoundingClientRect().left])",
                "g[id*='-bar-']",
            )
        )
        text = page.inner_text("body")
    one = sorted(k for k in widths if k.count("-") == 2)
    assert widths[one[0]] / widths[one[1]] == pytest.approx(4.0, rel=0.02)
    assert widths[one[2]] < 1  # not measured: no bar, said in words
    assert "not measured" in text and "int8 | $x$" in text  # labels verbatim, no mathtext
    pair = {k[-3:]: k for k in widths if k.count("-") == 3}
    assert widths[pair["0-0"]] / widths[pair["0-1"]] == pytest.approx(3.0, rel=0.02)
    assert widths[pair["1-0"]] / widths[pair["1-1"]] == pytest.approx(75 / 40, rel=0.02)
    assert lefts[pair["0-1"]] < lefts[pair["0-0"]] - 10  # -20 % starts left of the zero line


def test_the_same_chart_gives_the_same_svg():
    chart = BarChart("Latency (ms)", ["a", "b"], [1.5, 0.5], " ms")
    assert chart_svg(chart) == chart_svg(BarChart("Latency (ms)", ["a", "b"], [1.5, 0.5], " ms"))
    assert chart_svg(chart).startswith("<svg")
