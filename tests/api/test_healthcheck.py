"""/healthcheck as oslo.middleware answers it under Glance, with the database
and the default store among its checks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import GlintServer, glint_server

JSON = {"Accept": "application/json"}


def _server(folder: Path, *, detailed: bool) -> Iterator[GlintServer]:
    extra = {"healthcheck": {"backends": "disable_by_file", "detailed": detailed,
                             "disable_by_file_path": folder / "disabled"}}
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    yield from _server(tmp_path_factory.mktemp("glint-health"), detailed=False)


@pytest.fixture(scope="module")
def detailed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    yield from _server(tmp_path_factory.mktemp("glint-health-detailed"), detailed=True)


def test_plain_forms(plain_server: GlintServer) -> None:
    url = f"{plain_server.url}/healthcheck"
    response = httpx.get(url)
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["content-type"].startswith("text/plain")
    assert httpx.get(url, headers=JSON).json() == {"detailed": False, "reasons": ["OK"]}
    page = httpx.get(url, headers={"Accept": "text/html"})
    assert "<TITLE>Healthcheck Status</TITLE>" in page.text and "<TD>OK</TD>" in page.text
    head = httpx.head(url)
    assert (head.status_code, head.content) == (204, b"")
    # Anything else it cannot offer gets plain text, never 406.
    assert httpx.get(url, headers={"Accept": "image/png"}).text == "OK"


def test_failing_checks_are_named(plain_server: GlintServer) -> None:
    url = f"{plain_server.url}/healthcheck"
    images = plain_server.folder / "images"
    shutil.rmtree(images)
    try:
        response = httpx.get(url)
        assert (response.status_code, response.text) == (503, "STORE UNAVAILABLE")
        Path(plain_server.folder, "disabled").touch()
        response = httpx.get(url, headers=JSON)
        assert response.status_code == 503
        assert response.json()["reasons"] == ["DISABLED BY FILE", "STORE UNAVAILABLE"]
        assert httpx.head(url).status_code == 503
    finally:
        Path(plain_server.folder, "disabled").unlink(missing_ok=True)
        images.mkdir()
    assert httpx.get(url).text == "OK"


def test_detailed(detailed_server: GlintServer) -> None:
    url = f"{detailed_server.url}/healthcheck"
    document = httpx.get(url, headers=JSON).json()
    assert document["detailed"] is True
    assert {"now", "platform", "python_version", "gc", "threads", "greenthreads"} <= set(document)
    assert set(document["gc"]) == {"counts", "threshold"}
    database = str(detailed_server.folder / "glint.db")
    assert document["reasons"] == [
        {"class": "DisableByFileHealthcheck", "reason": "OK",
         "details": f"Path '{detailed_server.folder / 'disabled'}' was not found"},
        {"class": "DatabaseHealthcheck", "reason": "OK",
         "details": f"sqlite database {database} answered"},
        {"class": "StoreHealthcheck", "reason": "OK", "details": "store 'file' is usable"},
    ]
    shutil.rmtree(detailed_server.folder / "images")
    try:
        failing = httpx.get(url, headers=JSON)
        assert failing.status_code == 503
        [store] = [r for r in failing.json()["reasons"] if r["class"] == "StoreHealthcheck"]
        assert store["reason"] == "STORE UNAVAILABLE"
        assert "is missing or not writable" in store["details"]
        page = httpx.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert "<H1>Server status</H1>" in page.text and "<TD>STORE UNAVAILABLE</TD>" in page.text
    finally:
        (detailed_server.folder / "images").mkdir()
