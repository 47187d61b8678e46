"""Interoperable import driven by the stock clients: `openstack image create --import`
(glance-direct), `glance image-create-via-import` (web-download from nginx) and
`glance image-import --import-method copy-image` on a two-store site."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLIENTS, Cli
from tests.servers import glint_server
from tests.web import WebServer, nginx


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with nginx(tmp_path_factory.mktemp("nginx"), {
        "/redirect": "/disk.raw", "/evil": "http://169.254.169.254/latest/meta-data",
    }) as running:
        yield running


@pytest.fixture(scope="module")
def import_cli(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[Cli]:
    folder = tmp_path_factory.mktemp("glint-import-e2e")
    extra: dict[str, dict[str, object]] = {
        "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port}}
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="",
                      extra=extra) as running:
        yield Cli(running.url)


def _status(cli: Cli, image_id: str, wanted: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        shown: dict[str, object] = cli.openstack_json("image", "show", image_id)
        if shown["status"] == wanted or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


def test_openstack_create_with_glance_direct_import(import_cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 1)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    created = import_cli.openstack_json(
        "image", "create", "imported", "--import", "--file", str(path),
        "--disk-format", "raw", "--container-format", "bare")
    shown = _status(import_cli, str(created["id"]), "active")
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()


def _glance_without_stdin(cli: Cli, *args: str) -> str:
    """glance with standard input closed: with any stdin (even /dev/null) it
    assumes image data is piped and refuses web-download."""
    done = subprocess.run([str(CLIENTS / "glance"), "--os-image-url", cli.url,
                           "--os-auth-token", "x", *args], capture_output=True, text=True,
                          preexec_fn=lambda: os.close(0), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _image_id(table: str) -> str:
    return next(line.split("|")[2].strip() for line in table.splitlines()
                if line.startswith("| id "))


def test_glance_web_download(import_cli: Cli, web: WebServer) -> None:
    data = os.urandom(300_000)
    (web.root / "disk.raw").write_bytes(data)
    out = _glance_without_stdin(import_cli, "image-create-via-import", "--name", "web",
                                "--disk-format", "raw", "--container-format", "bare",
                                "--import-method", "web-download",
                                "--uri", f"{web.url}/redirect")
    shown = _status(import_cli, _image_id(out), "active")
    assert shown["checksum"] == hashlib.md5(data).hexdigest()


def test_glance_web_download_redirect_to_denied_address(import_cli: Cli, web: WebServer) -> None:
    out = _glance_without_stdin(import_cli, "image-create-via-import", "--name", "evil",
                                "--disk-format", "raw", "--container-format", "bare",
                                "--import-method", "web-download",
                                "--uri", f"{web.url}/evil")
    image_id = _image_id(out)
    shown = _status(import_cli, image_id, "queued")
    assert shown["status"] == "queued"
    # `glance image-tasks` needs API 2.12, which (as in Glance) only multi-store sites offer.
    [task] = httpx.get(f"{import_cli.url}/v2/images/{image_id}/tasks").json()["tasks"]
    assert task["status"] == "failure" and "169.254.169.254" in task["message"]


@pytest.fixture(scope="module")
def multistore_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    folder = tmp_path_factory.mktemp("glint-copy-e2e")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file, cheap:file"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": folder / "fast"},
        "cheap": {"filesystem_store_datadir": folder / "cheap"},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="",
                      extra=extra) as running:
        yield Cli(running.url)


def test_glance_copy_image(multistore_cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(400_000)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    out = multistore_cli.glance("image-create", "--name", "copied", "--disk-format", "raw",
                                "--container-format", "bare", "--file", str(path),
                                "--store", "fast")
    image_id = _image_id(out)
    multistore_cli.glance("image-import", image_id, "--import-method", "copy-image",
                          "--stores", "cheap")
    deadline = time.monotonic() + 60
    while True:
        shown = httpx.get(f"{multistore_cli.url}/v2/images/{image_id}").json()
        if shown.get("stores") == "fast,cheap" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (shown["status"], shown["stores"]) == ("active", "fast,cheap")
    assert "copy-image" in multistore_cli.glance("import-info")
