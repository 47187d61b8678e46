"""The Tasks API over real HTTP: listing (filters, sorting, markers, limits),
DELETE 405, the legacy import task (POST /v2/tasks) against a local nginx,
expiry after [task] task_time_to_live, and an operator's policy.yaml opening it."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, Caller
from tests.helpers import Site, running_site, wait_for_task
from tests.servers import GlintServer, database, glint_server
from tests.web import nginx

DATA = os.urandom(1024 * 1024 + 5)
POLICY = """\
"tasks_api_access": "role:admin or role:member"
"add_task": "role:admin"
"""


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Glint importing from a local nginx serving disk.raw (DATA)."""
    web_folder = tmp_path_factory.mktemp("nginx-tasks")
    with nginx(web_folder, {}) as web:
        (web.root / "disk.raw").write_bytes(DATA)
        folder = tmp_path_factory.mktemp("glint-tasks")
        with database(request.param, folder) as url, running_site(
                folder, database_url=url, extra={"task": {"task_time_to_live": 2}},
                web=web) as site:
            yield site


def _legacy(site: Site, caller: Caller, uri: str, **properties: object) -> dict[str, object]:
    response = caller.http.post("/v2/tasks", json={"type": "import", "input": {
        "import_from": uri, "import_from_format": "raw", "image_properties": properties}})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/tasks/{response.json()['id']}"
    task: dict[str, object] = response.json()
    return task


@pytest.fixture(scope="module")
def imported(site: Site) -> list[dict[str, object]]:
    """Three legacy imports, ended."""
    tasks = [_legacy(site, site.admin, f"{site.web.url}/disk.raw", name=f"legacy-{n}")
             for n in range(3)]
    return [wait_for_task(site.admin, task["id"]) for task in tasks]


def test_legacy_import(site: Site, imported: list[dict[str, object]]) -> None:
    task = imported[0]
    assert (task["type"], task["status"], task["message"]) == ("import", "success", "")
    image_id = task["result"]["image_id"]  # type: ignore[index]
    assert task["image_id"] == image_id
    assert task["input"]["import_from"] == f"{site.web.url}/disk.raw"  # type: ignore[index]
    image = site.admin.http.get(f"/v2/images/{image_id}").json()
    assert (image["status"], image["name"], image["disk_format"]) == ("active", "legacy-0", "raw")
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    # The image's own tasks: this one and the web-download import that did the work.
    tasks = site.admin.http.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert {(t["type"], t["status"]) for t in tasks} == {
        ("import", "success"), ("api_image_import", "success")}


def test_legacy_import_created_pending(site: Site) -> None:
    task = _legacy(site, site.admin, f"{site.web.url}/disk.raw")
    assert task["status"] == "pending" and task["result"] is None
    assert wait_for_task(site.admin, task["id"])["status"] == "success"


def test_legacy_import_failure(site: Site) -> None:
    task = wait_for_task(site.admin, _legacy(site, site.admin, f"{site.web.url}/missing.raw")["id"])
    assert task["status"] == "failure"
    assert "404" in str(task["message"])
    # As in Glance, the image of a failed legacy import is deleted.
    assert site.admin.http.get(f"/v2/images/{task['image_id']}").status_code == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"input": {}}, "Task 'type' is required"),
    ({"type": "import"}, "Task 'input' is required"),
    ({"type": "bogus", "input": {}}, "is not one of"),
    ({"type": "api_image_import", "input": {}}, "POST /v2/images/{image_id}/import"),
    ({"type": "import", "input": []}, "is not of type 'object'"),
    ({"type": "import", "input": {"import_from_format": "raw", "image_properties": {}}},
     "Input does not contain 'import_from' field"),
    ({"type": "import", "input": {"import_from": "http://127.0.0.1/x", "image_properties": {}}},
     "Input does not contain 'import_from_format' field"),
    ({"type": "import", "input": {"import_from": "http://127.0.0.1/x",
                                  "import_from_format": "raw"}},
     "Input does not contain 'image_properties' field"),
    ({"type": "import", "input": {"import_from": "file:///etc/passwd",
                                  "import_from_format": "raw", "image_properties": {}}},
     "File based imports are not allowed"),
    # Bug 2152110: import_from is held to the web-download URI rules.
    ({"type": "import", "input": {"import_from": "http://169.254.169.254/latest",
                                  "import_from_format": "raw", "image_properties": {}}},
     "not allowed for import"),
    ({"type": "import", "input": {"import_from": "http://127.0.0.1:1/disk.raw",
                                  "import_from_format": "raw", "image_properties": {}}},
     "Port 1 is not allowed for import"),
    ({"type": "import", "input": {"import_from": "WEB/disk.raw",
                                  "import_from_format": "nonsense", "image_properties": {}}},
     "nonsense"),
    ({"type": "import", "input": {"import_from": "WEB/disk.raw", "import_from_format": "raw",
                                  "image_properties": {"status": "active"}}},
     "status"),
])
def test_legacy_import_refused(site: Site, body: dict[str, object], message: str) -> None:
    before = len(site.admin.http.get("/v2/images", params={"limit": 1000}).json()["images"])
    task_input = body.get("input")
    if isinstance(task_input, dict) and str(task_input.get("import_from")).startswith("WEB"):
        body = {**body, "input": {**task_input, "import_from": str(
            task_input["import_from"]).replace("WEB", site.web.url)}}
    response = site.admin.http.post("/v2/tasks", json=body)
    assert response.status_code in (400, 403), response.text
    assert message in response.json()["message"]
    after = len(site.admin.http.get("/v2/images", params={"limit": 1000}).json()["images"])
    assert after == before


def test_tasks_api_is_admin_only(site: Site, imported: list[dict[str, object]]) -> None:
    member = site.member
    assert member.http.get("/v2/tasks").status_code == 403
    assert member.http.get(f"/v2/tasks/{imported[0]['id']}").status_code == 403
    assert member.http.delete(f"/v2/tasks/{imported[0]['id']}").status_code == 403
    response = member.http.post("/v2/tasks", json={"type": "import", "input": {}})
    assert response.status_code == 403
    assert "tasks_api_access" in response.json()["message"]


def test_delete_is_405(site: Site, imported: list[dict[str, object]]) -> None:
    response = site.admin.http.delete(f"/v2/tasks/{imported[0]['id']}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert "expires_at" in response.json()["message"]


def test_list_filters_sort_and_pages(site: Site, imported: list[dict[str, object]]) -> None:
    admin = site.admin
    ids = [task["id"] for task in imported]
    legacy = admin.http.get("/v2/tasks", params={"type": "import", "limit": 1000}).json()
    assert set(ids) <= {task["id"] for task in legacy["tasks"]}
    assert {task["type"] for task in legacy["tasks"]} == {"import"}
    assert "input" not in legacy["tasks"][0] and "result" not in legacy["tasks"][0]
    imports = admin.http.get("/v2/tasks", params={"type": "api_image_import"}).json()["tasks"]
    assert imports and {task["type"] for task in imports} == {"api_image_import"}
    failed = admin.http.get("/v2/tasks", params={"status": "failure"}).json()["tasks"]
    assert not set(ids) & {task["id"] for task in failed}
    # Pages of two, oldest first, follow "next" to the end.
    seen: list[str] = []
    page = admin.http.get("/v2/tasks", params={"limit": 2, "sort_dir": "asc",
                                               "type": "import"}).json()
    assert page["first"] == "/v2/tasks?limit=2&sort_dir=asc&type=import"
    while True:
        seen.extend(str(task["id"]) for task in page["tasks"])
        if "next" not in page:
            break
        page = admin.http.get(str(page["next"])).json()
    created = [admin.http.get(f"/v2/tasks/{task_id}").json()["created_at"] for task_id in seen]
    assert created == sorted(created) and len(seen) == len(set(seen))
    assert [task_id for task_id in seen if task_id in ids] == ids
    by_id = admin.http.get("/v2/tasks", params={"sort_key": "id", "sort_dir": "asc"}).json()
    listed = [task["id"] for task in by_id["tasks"]]
    assert listed == sorted(listed)


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "bogus"}, "Invalid status value: bogus"),
    ({"type": "bogus"}, "Invalid type value: bogus"),
    ({"sort_key": "owner_id"}, "Invalid sort key: owner_id"),
    ({"sort_dir": "up"}, "Invalid sort direction: up"),
    ({"marker": "not-a-uuid"}, "Invalid marker format"),
    ({"marker": str(uuid.uuid4())}, "task not found"),
    ({"limit": "many"}, "limit param must be an integer"),
    ({"limit": "-1"}, "limit param must be positive"),
])
def test_list_refuses(site: Site, params: dict[str, str], message: str) -> None:
    response = site.admin.http.get("/v2/tasks", params=params)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_expiry(site: Site) -> None:
    task = wait_for_task(site.admin, _legacy(site, site.admin, f"{site.web.url}/disk.raw")["id"])
    expires = datetime.fromisoformat(str(task["expires_at"]).replace("Z", "+00:00"))
    updated = datetime.fromisoformat(str(task["updated_at"]).replace("Z", "+00:00"))
    assert expires - updated == timedelta(hours=2)
    image_id = task["image_id"]
    for inner in site.admin.http.get(f"/v2/images/{image_id}/tasks").json()["tasks"]:
        assert inner["expires_at"] is not None
    # Two hours later (moved back in the database rather than waited for).
    engine = create_engine(site.database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE tasks SET expires_at = :past WHERE image_id = :image"),
                           {"past": datetime(2001, 1, 1), "image": image_id})
    engine.dispose()
    assert site.admin.http.get(f"/v2/tasks/{task['id']}").status_code == 404
    listed = site.admin.http.get("/v2/tasks", params={"limit": 1000}).json()["tasks"]
    assert task["id"] not in {t["id"] for t in listed}
    assert site.admin.http.get(f"/v2/images/{image_id}/tasks").json()["tasks"] == []


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[GlintServer]:
    """A second server whose policy.yaml lets project members use the Tasks API
    (but not create tasks)."""
    folder: Path = tmp_path_factory.mktemp("glint-tasks-policy")
    (folder / "policy.yaml").write_text(POLICY)
    extra: dict[str, dict[str, object]] = {
        "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": site.web.port},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        yield server


def test_policy_file_opens_tasks(site: Site, opened: GlintServer) -> None:
    member = Caller(opened.url, uuid.uuid4().hex, ("member", "reader"))
    other = Caller(opened.url, uuid.uuid4().hex, ("member", "reader"))
    admin = Caller(opened.url, uuid.uuid4().hex, ("admin", "member", "reader"))
    image = member.create()
    assert member.http.post(f"/v2/images/{image['id']}/import", json={"method": {
        "name": "web-download", "uri": f"{site.web.url}/disk.raw"}}).status_code == 202
    [task] = member.http.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    listed = member.http.get("/v2/tasks").json()["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
    assert member.http.get(f"/v2/tasks/{task['id']}").json()["owner"] == member.project_id
    # Other projects' tasks stay out of sight; admins see everything.
    assert other.http.get("/v2/tasks").json()["tasks"] == []
    assert other.http.get(f"/v2/tasks/{task['id']}").status_code == 404
    assert task["id"] in {t["id"] for t in admin.http.get("/v2/tasks").json()["tasks"]}
    # add_task stays admin-only in this policy.
    response = member.http.post("/v2/tasks", json={"type": "import", "input": {}})
    assert response.status_code == 403
    assert "add_task" in response.json()["message"]
