"""Helpers for tests that drive a running Glint over HTTP, one name each:
waiting on an image or a task, an image with data, and a site (Glint with
its callers, and a web server or several stores when a test needs them)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Caller
from tests.servers import GlintServer, glint_server
from tests.web import WebServer

OCTET = {"Content-Type": "application/octet-stream"}
# GLINT_SOAK=1: the race and crash tests run their full number of rounds (minutes);
# by default fewer, still enough to catch the bugs they were written for.
SOAK = os.environ.get("GLINT_SOAK", "") == "1"
Shown = dict[str, object]
# An import is over when the image is in none of these and no import task holds it.
IMPORTING = ("importing", "uploading")
TASK_ENDED = ("success", "failure")


def rounds(default: int, soak: int) -> int:
    """How many rounds a race or crash test runs: `soak` under GLINT_SOAK=1, else `default`."""
    return soak if SOAK else default


def wait_for_image(caller: Caller, image_id: object, done: Callable[[Shown], bool], *,
                   timeout: float = 60) -> Shown:
    """GET the image until `done(image)`; the last image seen once `timeout`
    seconds passed (the test asserts what it expected of it)."""
    deadline = time.monotonic() + timeout
    while True:
        shown: Shown = caller.http.get(f"/v2/images/{image_id}").json()
        if done(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.05)


def wait_for_status(caller: Caller, image_id: object, *statuses: str,
                    timeout: float = 60) -> Shown:
    """The image once its status is one of `statuses` (or at the timeout)."""
    return wait_for_image(caller, image_id, lambda shown: shown["status"] in statuses,
                          timeout=timeout)


def wait_for_import(caller: Caller, image_id: object, *, timeout: float = 60) -> Shown:
    """The image once no import holds it: not importing, and no
    `os_glance_import_task` lock on it."""
    return wait_for_image(
        caller, image_id,
        lambda shown: "os_glance_import_task" not in shown and shown["status"] not in IMPORTING,
        timeout=timeout)


def wait_for_task(caller: Caller, task_id: object, *, timeout: float = 60) -> Shown:
    """The task once it succeeded or failed (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        task: Shown = caller.http.get(f"/v2/tasks/{task_id}").json()
        if task["status"] in TASK_ENDED or time.monotonic() > deadline:
            return task
        time.sleep(0.05)


def image_tasks(caller: Caller, image_id: object) -> list[Shown]:
    """The image's import tasks (GET /v2/images/{id}/tasks)."""
    tasks: list[Shown] = caller.http.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    return tasks


def upload_active(caller: Caller, data: bytes, store: str | None = None) -> Shown:
    """A new image of the caller's with `data` uploaded (into `store`, if
    given), as shown after the upload."""
    image = caller.create()
    headers = {**OCTET, **({"X-Image-Meta-Store": store} if store else {})}
    response = caller.http.put(f"/v2/images/{image['id']}/file", content=data, headers=headers)
    assert response.status_code == 204, response.text
    shown: Shown = caller.http.get(f"/v2/images/{image['id']}").json()
    return shown


def store_sections(folder: Path, stores: dict[str, str], default: str
                   ) -> dict[str, dict[str, object]]:
    """Configuration of several stores (`stores`: name -> kind, "file" or
    "http"); a file store keeps its data in `folder/name`."""
    sections: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": ", ".join(f"{n}:{k}" for n, k in stores.items())},
        "glance_store": {"default_backend": default},
    }
    for name, kind in stores.items():
        sections[name] = {"filesystem_store_datadir": folder / name} if kind == "file" else {}
    return sections


@dataclass
class Site:
    """A running Glint, its database, its callers (an admin and a member, of
    one project or two) and the web server it may import from, if any."""

    server: GlintServer
    database_url: str
    admin: Caller
    member: Caller
    web: WebServer | None = None

    @property
    def folder(self) -> Path:
        return self.server.folder


@contextmanager
def running_site(folder: Path, *, database_url: str | None = None,
                 extra: dict[str, dict[str, object]] | None = None,
                 web: WebServer | None = None, one_project: bool = False) -> Iterator[Site]:
    """Glint on `database_url` (by default a SQLite file in `folder`) with
    `extra` configuration; with `web`, allowed to import from it."""
    sections = {key: dict(value) for key, value in (extra or {}).items()}
    if web is not None:
        sections.setdefault("import_filtering_opts", {}).update(
            {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port})
    url = database_url or f"sqlite:///{folder / 'glint.db'}"
    with glint_server(folder, url, extra=sections) as server:
        member = Caller(server.url, uuid.uuid4().hex, ("member", "reader"))
        project = member.project_id if one_project else uuid.uuid4().hex
        admin = Caller(server.url, project, ("admin", "member", "reader"))
        yield Site(server, url, admin, member, web)
