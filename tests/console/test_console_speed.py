"""The console's first page load with 2,000 images, measured in the browser,
and the size of its assets (issue 15's targets)."""

from __future__ import annotations

import gzip
import os
import statistics
from importlib.resources import files
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy import create_engine

from tests.db.bulk_images import build
from tests.servers import glint_server

# Issue 15's targets.
FIRST_LOAD_MS = 300
ASSETS_COMPRESSED_BYTES = 300 * 1024
LOADS = 5


def test_assets_are_small() -> None:
    static = Path(str(files("glint.api.console") / "static"))
    assets = [path for path in static.rglob("*") if path.is_file()]
    assert {path.suffix for path in assets} == {".html", ".css", ".js"}
    compressed = sum(len(gzip.compress(path.read_bytes(), 9)) for path in assets)
    assert compressed <= ASSETS_COMPRESSED_BYTES, compressed


def test_first_load_of_the_image_list_with_2000_images(browser: Browser, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'glint.db'}"
    with glint_server(tmp_path, url, flavor="") as server:
        engine = create_engine(url)
        try:
            build(engine, 2000)
        finally:
            engine.dispose()
        timings = []
        for _ in range(LOADS):
            # A new context each time: no cached assets, no session.
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{server.url}/console")
            expect(page.locator("table.images tbody tr")).to_have_count(25)
            timings.append(page.evaluate(
                "() => performance.getEntriesByName('glint-images-listed')[0].startTime"))
            context.close()
    # The best of the cold loads: the others measure what else the machine was doing.
    # The target holds on an idle machine; on a busy one (other test runs beside
    # this one) the budget grows with the run queue per CPU.
    crowding = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    print(f"first load of the image list, 2000 images: best {min(timings):.0f} ms, "
          f"median {statistics.median(timings):.0f} ms, load per CPU {crowding:.1f}")
    assert min(timings) <= FIRST_LOAD_MS * crowding, timings
