"""The HTML report in a real browser: headless Debian Chromium, driven by Playwright, offline."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

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


def test_html_report_renders_every_table_and_image_offline(tiny_run):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package; "
            "or set TORCHSLIM_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    report = tiny_run / "runs" / "tiny" / "report.html"
    md = (tiny_run / "runs" / "tiny" / "report.md").read_text()
    expected_tables = sum(1 for line in md.splitlines() if line.startswith("| :---") or line.startswith("| ---:"))
    shot = tiny_run / "runs" / "tiny" / "report-screenshot.png"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which(CHROMIUM) or CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri(), wait_until="load")
        tables = page.locator("table").count()
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        headings = page.locator("h2").all_inner_texts()
        text = page.inner_text("body")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert tables == expected_tables and tables >= 8
    assert len(images) == 4 and all(done and w > 100 and h > 100 for done, w, h in images), images
    assert "Multi-seed results" in headings and "Hardware and software" in headings
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # self-contained: nothing fetched
    assert shot.stat().st_size > 20_000
    # speedups timed side by side carry their 95 % interval, e.g. "1.52x (1.41–1.60)"
    assert re.search(r"\d+\.\d\dx \(\d+\.\d\d–\d+\.\d\d\)", text), "no speedup interval in the report"
