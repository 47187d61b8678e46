"""The console's session and forward over HTTP, on every database (the shared
`server` runs the trusted flavor: the identity headers a proxy would set are
passed on), and with several worker processes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from tests.servers import GlintServer, glint_server


def _identity(project: str, roles: str = "member,reader") -> dict[str, str]:
    return {"X-Identity-Status": "Confirmed", "X-Project-Id": project,
            "X-User-Id": uuid.uuid4().hex, "X-Roles": roles}


def test_session_cookie_and_csrf(server: GlintServer) -> None:
    project = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=30, headers=_identity(project)) as browser:
        session = browser.get("/console/session")
        assert session.status_code == 200 and session.headers["cache-control"] == "no-store"
        document = session.json()
        assert document["authenticated"] and document["auth"] == "trusted"
        assert document["project_id"] == project and document["roles"] == ["member", "reader"]
        cookie = session.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert browser.post("/console/api/v2/images", json={"name": "x"}).status_code == 403
        created = browser.post("/console/api/v2/images", json={"name": "x"},
                               headers={"X-Console-CSRF": document["csrf"]})
        assert created.status_code == 201 and created.json()["owner"] == project
        assert created.headers["cache-control"] == "no-store"
        listed = browser.get("/console/api/v2/images")
        assert created.json()["id"] in [image["id"] for image in listed.json()["images"]]
        assert browser.get("/console/api/versions").status_code == 404
        # No Keystone to log in with in this flavor.
        login = browser.post("/console/session", json={"username": "a", "password": "b",
                                                       "domain": "", "project": "c"})
        assert login.status_code == 503
        out = browser.delete("/console/session", headers={"X-Console-CSRF": document["csrf"]})
        assert out.status_code == 204
        assert browser.get("/console/api/v2/images").status_code == 401


def test_no_cookie_no_forward(server: GlintServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30, headers=_identity("p")) as stranger:
        response = stranger.get("/console/api/v2/images")
        assert response.status_code == 401
    with httpx.Client(base_url=server.url, timeout=30, headers=_identity("p"),
                      cookies={"glint_console": "forged"}) as forger:
        assert forger.get("/console/api/v2/images").status_code == 401


def test_overlong_identity_is_refused(server: GlintServer) -> None:
    headers = {**_identity("p"), "X-User-Id": "u" * 256}
    assert httpx.get(f"{server.url}/console/session", headers=headers, timeout=30).status_code == 400


def test_page_headers(server: GlintServer) -> None:
    page = httpx.get(f"{server.url}/console", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    again = httpx.get(f"{server.url}/console", headers={"If-None-Match": page.headers["etag"]},
                      timeout=30)
    assert again.status_code == 304
    assert httpx.get(f"{server.url}/console/static/js/nothing.js", timeout=30).status_code == 404


def test_sessions_hold_across_worker_processes(tmp_path: Path) -> None:
    with glint_server(tmp_path, f"sqlite:///{tmp_path / 'glint.db'}", flavor="",
                      workers=2) as server:
        opened = httpx.get(f"{server.url}/console/session", timeout=30)
        headers = {"X-Console-CSRF": opened.json()["csrf"],
                   "Cookie": f"glint_console={opened.cookies['glint_console']}"}
        workers = set()
        for number in range(30):
            # A new connection each time, so that the workers share them out.
            response = httpx.post(f"{server.url}/console/api/v2/images", json={"name": str(number)},
                                  headers=headers, timeout=30)
            assert response.status_code == 201, response.text
            workers.add(_worker_of(server, response.headers["x-openstack-request-id"]))
        assert len(workers) == 2


def _worker_of(server: GlintServer, request_id: str) -> str:
    """The pid that logged the request (the log's third field). The line is
    written once the response has gone out, so it may come just after it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log.read_text().splitlines():
            if request_id in line:
                return line.split()[2]
        time.sleep(0.05)
    raise AssertionError(f"{request_id} not logged")
