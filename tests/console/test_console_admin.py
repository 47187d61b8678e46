"""The console's admin views in Chromium, against Glint with Keystone, the image
cache on and a real `glint audit`: the cache (listing, queueing from the image
page, deleting, clearing, cleaning, pruning), the auditor's findings, and usage
where the server offers it. A member sees none of them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, text

from tests.console.conftest import CACHE_NODE, Cloud, log_in, screenshot, unique
from tests.servers import glint_command

pytestmark = pytest.mark.keystone

PHONE = {"width": 390, "height": 844}


def _active_image(api: httpx.Client, data: bytes) -> str:
    image = api.post("/v2/images", json={"name": unique("admin"), "disk_format": "raw",
                                         "container_format": "bare"}).json()
    put = api.put(f"/v2/images/{image['id']}/file", content=data,
                  headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    return str(image["id"])


def _cached_ids(api: httpx.Client) -> set[str]:
    listing = api.get("/v2/cache")
    assert listing.status_code == 200, listing.text
    return {entry["image_id"] for entry in listing.json()["cached_images"]}


def _wait_cached(api: httpx.Client, image_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while image_id not in _cached_ids(api):
        assert time.monotonic() < deadline, f"{image_id} never cached"
        time.sleep(0.1)


def _service(page: Page) -> None:
    page.get_by_role("link", name="Service").click()
    expect(page.get_by_role("heading", name="Stores")).to_be_visible()


def test_cache_view(page: Page, cloud: Cloud) -> None:
    with cloud.api(cloud.admin) as api:
        first = _active_image(api, os.urandom(5000))
        second = _active_image(api, os.urandom(7000))
        assert api.get(f"/v2/images/{first}/file").status_code == 200  # a miss fills the cache
        _wait_cached(api, first)
    log_in(page, cloud, cloud.admin)
    _service(page)
    cached = page.get_by_role("table", name="Cached images")
    expect(cached).to_contain_text(first)
    expect(cached.locator("tr", has_text=first)).to_contain_text("4.9 KiB")
    cached.get_by_role("link", name=first).click()
    expect(page.locator(".cached-nodes")).to_have_text(CACHE_NODE)

    page.goto(f"{cloud.server.url}/console#/images/{second}")
    expect(page.locator(".cached-nodes")).to_have_text("Not cached on any node.")
    page.get_by_role("button", name="Cache on this node").click()
    expect(page.get_by_role("region", name="Image cache")).to_contain_text("Queued")
    # The prefetcher (a pass a second here) caches it; the page follows it.
    expect(page.locator(".cached-nodes")).to_have_text(CACHE_NODE, timeout=30_000)

    _service(page)
    card = page.get_by_role("region", name="Image cache")
    expect(card.get_by_role("table", name="Cached images")).to_contain_text(second)
    card.get_by_role("button", name=f"Delete {first} from the cache").click()
    expect(card.locator(".result")).to_have_text(f"Removed {first} from this node's cache.")
    expect(card.get_by_role("table", name="Cached images")).not_to_contain_text(first)
    # Queue with the keyboard: the field, then Enter.
    card.get_by_label("Image id to cache").fill(first)
    card.get_by_label("Image id to cache").press("Enter")
    expect(card.locator(".result")).to_have_text(f"Queued {first}.")
    expect(card).to_contain_text(first)  # queued, or already cached by the prefetcher
    card.get_by_label("Image id to cache").fill("00000000-0000-4000-8000-000000000000")
    card.get_by_role("button", name="Queue", exact=True).click()
    expect(card.locator(".result.error")).to_contain_text("No image found")
    card.get_by_role("button", name="Clean").click()
    expect(card.locator(".result")).to_have_text("Cache cleaned.")
    card.get_by_role("button", name="Prune").click()
    expect(card.locator(".result")).to_have_text("Pruned 0 files (0 B).")
    screenshot(page, "cache-desktop")
    card.get_by_role("button", name="Clear queue").click()
    page.get_by_role("dialog").get_by_role("button", name="Clear").click()
    expect(card.locator(".result")).to_have_text("Cleared the queue.")
    expect(card).to_contain_text("Nothing queued.")
    card.get_by_role("button", name="Clear cache").click()
    page.get_by_role("dialog").get_by_role("button", name="Clear").click()
    expect(card.locator(".result")).to_have_text("Cleared the cache.")
    expect(card).to_contain_text("Nothing cached.")
    with cloud.api(cloud.admin) as api:
        assert api.get("/v2/cache").json() == {"cached_images": [], "queued_images": []}


def _corrupt(cloud: Cloud, image_id: str) -> str:
    engine = create_engine(f"sqlite:///{cloud.server.folder / 'glint.db'}")
    try:
        with engine.connect() as connection:
            url = str(connection.execute(text("SELECT url FROM image_locations WHERE image_id = :id"),
                                         {"id": image_id}).scalar_one())
    finally:
        engine.dispose()
    path = Path(unquote(urlsplit(url).path))
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    return url


def test_audit_view(browser: Browser, page: Page, cloud: Cloud) -> None:
    with cloud.api(cloud.admin) as api:
        image_id = _active_image(api, os.urandom(3000))
    url = _corrupt(cloud, image_id)
    glint_command("audit", "--config-file", str(cloud.server.config), "--image", image_id)
    log_in(page, cloud, cloud.admin)
    _service(page)
    bad = page.get_by_role("table", name="Copies recorded bad")
    row = bad.locator("tr", has_text=image_id)
    expect(row).to_contain_text("mismatch")
    expect(row).to_contain_text(url)
    expect(row).to_contain_text("checksum")
    expect(page.locator(".audit-summary")).to_contain_text("mismatch(es)")
    screenshot(page, "audit-desktop")
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        small = phone.new_page()
        log_in(small, cloud, cloud.admin)
        _service(small)
        expect(small.get_by_role("table", name="Copies recorded bad")).to_contain_text(image_id)
        expect(small.get_by_role("button", name="Clear queue")).to_be_visible()
        assert small.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(small, "service-phone")
    finally:
        phone.close()
    row.get_by_role("link", name=image_id).click()
    marked = page.get_by_role("list", name="Copies recorded bad")
    expect(marked).to_contain_text("recorded mismatch")
    expect(marked).to_contain_text("checksum")
    expect(marked).to_contain_text(f"copy in store file at {url}: checksum")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    screenshot(page, "image-admin-desktop")


def test_member_sees_no_admin_views(page: Page, cloud: Cloud) -> None:
    log_in(page, cloud, cloud.member)
    _service(page)
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    expect(page.get_by_role("heading", name="Image cache")).to_have_count(0)
    expect(page.get_by_role("heading", name="Integrity audit")).to_have_count(0)
    with cloud.api(cloud.member) as api:
        assert api.get("/v2/info/audit").status_code == 403
        assert api.get("/v2/cache").status_code == 403


def test_usage_view(page: Page, cloud: Cloud) -> None:
    """The member's usage and limits, from Keystone's unified limits."""
    with cloud.api(cloud.member) as api:
        before = api.get("/v2/info/usage").json()["usage"]
        _active_image(api, os.urandom(1024 * 1024))
        api.post("/v2/images", json={"name": unique("empty")})
    log_in(page, cloud, cloud.member)
    _service(page)
    table = page.get_by_role("table", name="Usage")
    images = table.locator("tr", has_text="Images")
    count = before["image_count_total"]["usage"] + 2
    expect(images).to_contain_text(f"{count}1000")
    expect(images.locator("meter")).to_have_attribute("value", str(count))
    size = before["image_size_total"]["usage"] + 1
    expect(table.locator("tr", has_text="Image data")).to_contain_text(f"{size} MiB4096 MiB")
    expect(table.locator("tr", has_text="Staging area")).to_contain_text("1024 MiB")
    expect(table.locator("tr", has_text="Uploads in progress")).to_contain_text("10")
    screenshot(page, "usage-desktop")


GLANCE_USAGE = {"usage": {
    "image_size_total": {"limit": 1000, "usage": 950},
    "image_stage_total": {"limit": -1, "usage": 0},
    "image_count_total": {"limit": 100, "usage": 7},
    "image_count_uploading": {"limit": 10, "usage": 1},
}}


def test_usage_view_reads_glances_document(page: Page, cloud: Cloud) -> None:
    """The page's rendering of Glance's usage document (as Glance 33 answers it),
    served to the page in place of the server's answer."""
    page.route("**/console/api/v2/info/usage", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(GLANCE_USAGE)))
    log_in(page, cloud, cloud.member)
    _service(page)
    table = page.get_by_role("table", name="Usage")
    expect(table.locator("tr", has_text="Image data")).to_contain_text("950 MiB")
    expect(table.locator("tr", has_text="Image data")).to_contain_text("1000 MiB")
    expect(table.locator("tr", has_text="Staging area")).to_contain_text("no limit")
    expect(table.locator("tr", has_text="Uploads in progress")).to_contain_text("1")
    images = table.locator("tr", has_text="Images")
    expect(images).to_contain_text("7")
    expect(images.locator("meter")).to_have_attribute("value", "7")
    expect(page.get_by_role("meter", name="Image data: 950 of 1000")).to_be_visible()
