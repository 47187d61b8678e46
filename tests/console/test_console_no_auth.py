"""The web console without authentication (Glint's default): straight in, here
with two stores to choose from. And `[console] enabled = false`: no console at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.servers import GlintServer, glint_server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("console-open")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file, cheap:file"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "cheap": {"filesystem_store_datadir": folder / "cheap"},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="", extra=extra) as server:
        yield server


def test_straight_in_without_authentication(browser: Browser, open_server: GlintServer,
                                            tmp_path: Path) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{open_server.url}/console")
        expect(page.get_by_role("heading", name="Images", exact=True)).to_be_visible()
        expect(page.locator("#who")).to_contain_text("No authentication")
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        qcow2 = tmp_path / "disk.bin"
        qcow2.write_bytes(b"QFI\xfb" + bytes(508))
        path = tmp_path / "small.vhd"
        path.write_bytes(os.urandom(4096))
        page.get_by_role("link", name="New image").click()
        expect(page.get_by_role("heading", name="New image")).to_be_visible()
        page.get_by_label("File to upload").set_input_files(str(qcow2))
        expect(page.get_by_label("Disk format")).to_have_value("qcow2")  # from its first bytes
        page.get_by_label("Name", exact=True).fill("")
        page.get_by_label("File to upload").set_input_files(str(path))
        # Guessed from the file's name (its first bytes name no format), then chosen.
        expect(page.get_by_label("Disk format")).to_have_value("vhd")
        page.get_by_label("Disk format").select_option("raw")
        expect(page.get_by_label("fast")).to_be_checked()  # the default store
        page.get_by_label("fast").uncheck()
        page.get_by_label("cheap").check()
        page.get_by_role("button", name="Create image").click()
        expect(page.locator(".outcome")).to_contain_text("Done")
        page.locator(".outcome a").click()
        expect(page.locator("h1 .badge")).to_have_text("active")
        expect(page.get_by_role("region", name="Locations and stores")).to_contain_text("cheap")
        page.get_by_role("link", name="Service").click()
        expect(page.get_by_role("table", name="Stores")).to_contain_text("cheap")
        # Unauthenticated Glint acts as admin: the auditor's card shows; this server
        # has no unified limits, and no image cache (404), so no card for it.
        expect(page.get_by_role("heading", name="Integrity audit")).to_be_visible()
        expect(page.get_by_role("region", name="Usage")).to_contain_text(
            "No limits are set for this project.")
        expect(page.get_by_role("heading", name="Image cache")).to_have_count(0)
        assert httpx.get(f"{open_server.url}/v2/cache").status_code == 404
        status = page.evaluate("""() => fetch('/console/api/v2/images', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status)""")
        assert status == 403
    finally:
        page.context.close()


def test_console_can_be_turned_off(tmp_path: Path) -> None:
    with glint_server(tmp_path, f"sqlite:///{tmp_path / 'glint.db'}", flavor="",
                      extra={"console": {"enabled": "false"}}) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/console").status_code == 404
            assert client.get("/console/api/v2/images").status_code == 404
            assert client.get("/v2/images").status_code == 200
