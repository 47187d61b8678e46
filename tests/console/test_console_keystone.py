"""The web console in Chromium, against Glint with `flavor = keystone` and a real Keystone."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import PASSWORD, Cloud, log_in, screenshot, session_secret, unique

pytestmark = pytest.mark.keystone

PHONE = {"width": 390, "height": 844}


def csrf_of(page: Page) -> str:
    document = page.evaluate("() => fetch('/console/session').then(r => r.json())")
    return str(document["csrf"])


def fetch_status(page: Page, method: str, path: str, body: object = None,
                 headers: dict[str, str] | None = None) -> int:
    """The status of a call made by the page's own script (with its cookie)."""
    return int(page.evaluate(
        """([method, path, body, headers]) => fetch(path, {method, headers,
               body: body === null ? undefined : JSON.stringify(body)}).then(r => r.status)""",
        [method, path, body, {"Content-Type": "application/json", **(headers or {})}]))


def test_login_keeps_the_token_out_of_the_browser_and_the_log(page: Page, cloud: Cloud) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    log_in(page, cloud, cloud.member)
    assert requested and all(url.startswith(f"{cloud.server.url}/console") for url in requested)
    cookie = next(c for c in page.context.cookies() if c["name"] == "glint_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    token = cloud.token_of(session_secret(page))
    with cloud.api(cloud.member) as api:
        assert api.get("/v2/images", headers={"X-Auth-Token": token}).status_code == 200
    seen = page.evaluate("""() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage},
                                                  cookie: document.cookie,
                                                  html: document.documentElement.outerHTML})""")
    assert token not in seen and PASSWORD not in seen
    assert json.loads(seen)["cookie"] == ""
    assert json.loads(seen)["local"] == {} and json.loads(seen)["session"] == {}
    log = cloud.server.log.read_text()
    assert token not in log and PASSWORD not in log
    screenshot(page, "images-desktop")


def test_login_refused_with_a_wrong_password(page: Page, cloud: Cloud) -> None:
    page.goto(f"{cloud.server.url}/console")
    page.get_by_label("User name").fill(cloud.member.name)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_label("Project").fill(cloud.member.project)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    assert not [c for c in page.context.cookies() if c["name"] == "glint_console"]


def test_browse_filter_sort_and_page(page: Page, cloud: Cloud) -> None:
    tag = unique("browse")
    with cloud.api(cloud.member) as api:
        for name in ("charlie", "alpha", "bravo"):
            created = api.post("/v2/images", json={"name": name, "tags": [tag], "disk_format": "raw",
                                                   "container_format": "bare"})
            assert created.status_code == 201, created.text
    log_in(page, cloud, cloud.member)
    page.get_by_label("Tag", exact=True).fill(tag)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.images tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="Name").click()  # sort by name, ascending
    expect(rows.first).to_contain_text("alpha")
    page.get_by_role("button", name="Name").click()  # and descending
    expect(rows.first).to_contain_text("charlie")
    page.goto(page.url + "&limit=2")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("alpha")
    page.get_by_role("button", name="← Previous").click()
    expect(rows).to_have_count(2)


def test_upload_50_mib_shows_progress_to_100(page: Page, cloud: Cloud, tmp_path: Path) -> None:
    data = os.urandom(50 * 1024 * 1024)
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    log_in(page, cloud, cloud.member)
    page.get_by_role("link", name="New image").click()
    expect(page.get_by_role("heading", name="New image")).to_be_visible()
    page.get_by_label("File to upload").set_input_files(str(path))
    expect(page.get_by_label("Name", exact=True)).to_have_value("disk")
    page.get_by_label("Name", exact=True).fill(unique("upload"))
    watch_progress(page)
    page.get_by_role("button", name="Create image").click()
    expect(page.locator(".outcome")).to_contain_text("Done", timeout=60_000)
    expect(page.locator(".progress-text")).to_contain_text("100 %")
    expect(page.locator(".progress-text")).to_contain_text("/s")  # the speed
    expect(page.locator(".progress-text")).to_contain_text("0 s left")
    seen = page.evaluate("() => window.seen")
    assert seen[-1] == 100 and seen == sorted(seen)
    assert any(0 < value < 100 for value in seen), seen
    image_id = page.locator(".outcome a").get_attribute("href").rsplit("/", 1)[1]
    with cloud.api(cloud.member) as api:
        image = api.get(f"/v2/images/{image_id}").json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    screenshot(page, "upload-desktop")


def test_web_download_follows_the_task(page: Page, cloud: Cloud) -> None:
    data = os.urandom(2 * 1024 * 1024)
    (cloud.web.root / "slow").mkdir(exist_ok=True)
    (cloud.web.root / "slow" / "web.img").write_bytes(data)
    log_in(page, cloud, cloud.member)
    page.get_by_role("link", name="New image").click()
    expect(page.get_by_role("heading", name="New image")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(unique("web"))
    page.get_by_label("Or a URL to download from").fill(f"{cloud.web.url}/slow/web.img")
    watch_progress(page)
    page.get_by_role("button", name="Create image").click()
    expect(page.locator(".outcome")).to_contain_text("Done", timeout=60_000)
    seen = page.evaluate("() => window.seen")
    assert seen[-1] == 100 and any(0 < value < 100 for value in seen), seen
    page.locator(".outcome a").click()
    expect(page.locator("h1 .badge")).to_have_text("active")
    expect(page.locator(".task-status")).to_have_text("success")


def watch_progress(page: Page) -> None:
    """Record every value the progress bar shows, in window.seen."""
    page.evaluate("""() => { window.seen = []; const bar = document.getElementById('upload-progress');
        new MutationObserver(() => window.seen.push(Number(bar.value)))
            .observe(bar, {attributes: true}); }""")


def _image(cloud: Cloud, name: str, data: bytes | None = None) -> str:
    with cloud.api(cloud.member) as api:
        image = api.post("/v2/images", json={"name": name, "disk_format": "raw",
                                             "container_format": "bare"}).json()
        if data is not None:
            put = api.put(f"/v2/images/{image['id']}/file", content=data,
                          headers={"Content-Type": "application/octet-stream"})
            assert put.status_code == 204, put.text
    return str(image["id"])


def test_edit_tag_share_and_accept(browser: Browser, page: Page, cloud: Cloud) -> None:
    image_id = _image(cloud, unique("share"))
    log_in(page, cloud, cloud.member)
    page.goto(f"{cloud.server.url}/console#/images/{image_id}")
    edit = page.get_by_role("form", name="Edit")
    edit.get_by_label("Name", exact=True).fill("shared-image")
    edit.get_by_role("button", name="Add property").click()
    expect(page.locator("#metadef-names option[value='os_type']")).to_have_count(1)
    edit.get_by_label("Property name").last.fill("os_type")
    edit.get_by_label("Property value").last.fill("plan9")
    expect(edit.locator(".property .error")).to_contain_text("one of: linux, windows")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#toast")).to_contain_text("do not fit")
    edit.get_by_label("Property value").last.fill("linux")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="shared-image")).to_be_visible()
    page.get_by_label("New tag").fill("gold")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("list", name="Tags")).to_contain_text("gold")
    page.get_by_role("region", name="Actions").get_by_label("Visibility").select_option("shared")
    expect(page.locator("#toast")).to_contain_text("Visibility: shared")
    # What a person types survives the page's redraws (here: after adding a
    # tag); a form that was sent is emptied.
    page.get_by_label("Share with project").fill(cloud.other.project_id)
    page.get_by_label("New tag").fill("silver")
    page.get_by_role("button", name="Add tag").click()
    expect(page.get_by_role("list", name="Tags")).to_contain_text("silver")
    expect(page.get_by_label("New tag")).to_have_value("")
    expect(page.get_by_label("Share with project")).to_have_value(cloud.other.project_id)
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".member-status")).to_have_text("pending")
    expect(page.get_by_label("Share with project")).to_have_value("")
    screenshot(page, "details-desktop")

    other = browser.new_context().new_page()
    log_in(other, cloud, cloud.other)
    other.get_by_role("link", name="Shared with me").click()
    other.get_by_role("link", name="shared-image").click()
    expect(other.locator(".member-status")).to_have_text("pending")
    other.get_by_role("button", name="Reject").click()
    expect(other.locator(".member-status")).to_have_text("rejected")
    other.get_by_role("button", name="Accept").click()
    expect(other.locator(".member-status")).to_have_text("accepted")
    with cloud.api(cloud.member) as api:
        image = api.get(f"/v2/images/{image_id}").json()
        member = api.get(f"/v2/images/{image_id}/members/{cloud.other.project_id}").json()
    assert image["name"] == "shared-image" and image["os_type"] == "linux"
    assert sorted(image["tags"]) == ["gold", "silver"] and image["visibility"] == "shared"
    assert member["status"] == "accepted"
    page.reload()
    expect(page.locator(".member-status")).to_have_text("accepted")
    page.get_by_role("button", name=f"Remove member {cloud.other.project_id}").click()
    expect(page.get_by_role("region", name="Members")).to_contain_text("Not shared with any project")
    other.reload()
    expect(other.get_by_role("alert")).to_be_visible()  # no longer visible to the other project
    other.context.close()


def test_deactivate_reactivate_and_delete(page: Page, cloud: Cloud) -> None:
    image_id = _image(cloud, unique("lifecycle"), b"x" * 4096)
    log_in(page, cloud, cloud.member)
    page.goto(f"{cloud.server.url}/console#/images/{image_id}")
    badge = page.locator("h1 .badge")
    expect(badge).to_have_text("active")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert Path(download.value.path()).read_bytes() == b"x" * 4096
    page.get_by_role("button", name="Deactivate").click()
    expect(badge).to_have_text("deactivated")
    page.get_by_role("button", name="Reactivate").click()
    expect(badge).to_have_text("active")
    page.get_by_label("Protected").check()
    expect(page.locator("#toast")).to_contain_text("Protected: yes")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#toast")).to_contain_text("protected")  # the API refused
    page.get_by_label("Protected").uncheck()
    expect(page.locator("#toast")).to_contain_text("Protected: no")
    page.get_by_label("Hidden").check()
    expect(page.locator("#toast")).to_contain_text("Hidden: yes")
    with cloud.api(cloud.member) as api:
        assert api.get(f"/v2/images/{image_id}").json()["os_hidden"] is True
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Images", exact=True)).to_be_visible()
    with cloud.api(cloud.member) as api:
        assert api.get(f"/v2/images/{image_id}").status_code == 404


def test_reader_sees_no_write_controls_and_the_api_refuses(page: Page, cloud: Cloud) -> None:
    image_id = _image(cloud, unique("read-only"), b"y" * 1024)
    log_in(page, cloud, cloud.reader)
    expect(page.get_by_role("link", name="New image")).to_be_hidden()
    page.goto(f"{cloud.server.url}/console#/images/{image_id}")
    expect(page.get_by_role("heading", name="Details")).to_be_visible()
    for control in ("Delete", "Deactivate", "Save", "Add tag"):
        expect(page.get_by_role("button", name=control)).to_have_count(0)
    expect(page.get_by_role("link", name="Download")).to_have_count(0)
    assert fetch_status(page, "GET", f"/console/api/v2/images/{image_id}/file") == 403
    csrf = {"X-Console-CSRF": csrf_of(page)}
    assert fetch_status(page, "POST", "/console/api/v2/images", {"name": "no"}, csrf) == 403
    assert fetch_status(page, "DELETE", f"/console/api/v2/images/{image_id}", None, csrf) == 403
    assert fetch_status(page, "POST", f"/console/api/v2/images/{image_id}/actions/deactivate",
                        None, csrf) == 403


def test_changes_without_the_csrf_token_are_refused(page: Page, cloud: Cloud) -> None:
    log_in(page, cloud, cloud.member)
    assert fetch_status(page, "POST", "/console/api/v2/images", {"name": "csrf"}) == 403
    assert fetch_status(page, "POST", "/console/api/v2/images", {"name": "csrf"},
                        {"X-Console-CSRF": "guessed"}) == 403
    assert fetch_status(page, "DELETE", "/console/session") == 403
    assert fetch_status(page, "GET", "/console/api/v2/images") == 200
    assert fetch_status(page, "POST", "/console/api/v2/images", {"name": "csrf"},
                        {"X-Console-CSRF": csrf_of(page)}) == 201
    # Login takes JSON only: a form of another site cannot post one without a preflight.
    assert page.evaluate("""() => fetch('/console/session', {method: 'POST', body: 'username=a',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'}}).then(r => r.status)""") == 415


def test_expired_session_shows_a_clear_page(page: Page, cloud: Cloud) -> None:
    log_in(page, cloud, cloud.member)
    cloud.expire(session_secret(page))
    page.get_by_role("link", name="Shared with me").click()  # an API call: 401
    expect(page.get_by_role("heading", name="Your session has expired")).to_be_visible()
    page.reload()  # and on a new visit
    expect(page.get_by_role("heading", name="Your session has expired")).to_be_visible()
    page.get_by_role("button", name="Log in again").click()
    expect(page.get_by_role("heading", name="Log in to Glint")).to_be_visible()


def test_logout_ends_the_session(page: Page, cloud: Cloud) -> None:
    log_in(page, cloud, cloud.member)
    secret = session_secret(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Glint")).to_be_visible()
    with pytest.raises(Exception, match="No row was found"):
        cloud.session_row(secret)
    assert fetch_status(page, "GET", "/console/api/v2/images") == 401


def test_phone_viewport(browser: Browser, cloud: Cloud) -> None:
    image_id = _image(cloud, unique("phone"), b"z" * 2048)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, cloud, cloud.member)
        expect(page.locator("table.images tbody tr").first).to_be_visible()
        # The table, not a row: the list may redraw its rows right after they show.
        width = page.locator("table.images").evaluate("t => t.getBoundingClientRect().width")
        assert width <= PHONE["width"]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "images-phone")
        page.goto(f"{cloud.server.url}/console#/images/{image_id}")
        expect(page.get_by_role("heading", name="Details")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        expect(page.get_by_role("button", name="Delete")).to_be_visible()
        screenshot(page, "details-phone")
        page.get_by_role("link", name="New image").click()
        expect(page.get_by_role("heading", name="New image")).to_be_visible()
        expect(page.get_by_label("File to upload")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "upload-phone")
    finally:
        context.close()


def test_service_page_for_an_admin(page: Page, cloud: Cloud) -> None:
    log_in(page, cloud, cloud.admin)
    page.get_by_role("link", name="Service").click()
    expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
    expect(page.get_by_role("table", name="Tasks")).to_contain_text("api_image_import")
    expect(page.get_by_role("heading", name="Image cache")).to_be_visible()
    expect(page.get_by_role("heading", name="Integrity audit")).to_be_visible()
    screenshot(page, "service-desktop")
