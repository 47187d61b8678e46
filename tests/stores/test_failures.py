"""Store failures seen from outside: at start, during an upload, while serving.

Uses its own SeaweedFS, which the tests kill.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import OCTET
from tests.servers import free_port, glint_command, glint_server, write_config
from tests.stores.backends import S3Server, seaweedfs

MIB = 1024 * 1024


def test_unreachable_store_at_start_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "glance-api.conf", {
        "DEFAULT": {"bind_port": free_port(), "enabled_backends": "fast:file,cheap:s3"},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadir": tmp_path / "fast"},
        "cheap": {"s3_store_host": f"127.0.0.1:{free_port()}", "s3_store_access_key": "a",
                  "s3_store_secret_key": "b", "s3_store_bucket": "images"},
    })
    glint_command("db", "sync", "--config-file", str(config))
    started = glint_command("serve", "--config-file", str(config), check=False)
    assert started.returncode == 2
    errors = [line for line in started.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "store 'cheap'" in errors[0], started.stderr


def test_bad_store_option_at_start_names_the_key(tmp_path: Path) -> None:
    config = write_config(tmp_path / "glance-api.conf", {
        "DEFAULT": {"bind_port": free_port(), "enabled_backends": "fast:file"},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"default_backend": "fast"},
        "fast": {"filesystem_store_datadirs": f"{tmp_path}:first"},
    })
    glint_command("db", "sync", "--config-file", str(config))
    started = glint_command("serve", "--config-file", str(config), check=False)
    assert started.returncode == 2 and "[fast] filesystem_store_datadirs" in started.stderr


@pytest.fixture
def doomed_s3(tmp_path: Path) -> Iterator[S3Server]:
    with seaweedfs(tmp_path / "weed") as server:
        yield server


@pytest.fixture
def s3_glint(tmp_path: Path, doomed_s3: S3Server) -> Iterator[tuple[str, Path]]:
    options = doomed_s3.options(s3_store_large_object_size="5",
                                s3_store_large_object_chunk_size="5")
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"enabled_backends": "fast:file,cheap:s3"},
        "glance_store": {"default_backend": "cheap"},
        "fast": {"filesystem_store_datadir": tmp_path / "fast"},
        "cheap": options,
    }
    folder = tmp_path / "glint"
    with glint_server(folder, f"sqlite:///{tmp_path / 'glint.db'}", flavor="",
                      extra=extra) as server:
        yield server.url, server.log


def _image(url: str) -> str:
    created = httpx.post(f"{url}/v2/images", json={"disk_format": "raw",
                                                   "container_format": "bare"})
    image_id: str = created.json()["id"]
    return image_id


def _status(url: str, image_id: str) -> str:
    status: str = httpx.get(f"{url}/v2/images/{image_id}").json()["status"]
    return status


def test_store_outage_while_serving_is_503_naming_the_store(
    s3_glint: tuple[str, Path], doomed_s3: S3Server
) -> None:
    url, log = s3_glint
    stored = _image(url)
    assert httpx.put(f"{url}/v2/images/{stored}/file", content=b"in s3",
                     headers=OCTET).status_code == 204
    assert httpx.get(f"{url}/v2/images/{stored}/file").content == b"in s3"
    doomed_s3.kill()
    download = httpx.get(f"{url}/v2/images/{stored}/file", timeout=60)
    assert download.status_code == 503
    queued = _image(url)
    upload = httpx.put(f"{url}/v2/images/{queued}/file", content=b"x", headers=OCTET, timeout=60)
    assert upload.status_code == 503
    assert _status(url, queued) == "queued"
    # Another store still takes data.
    assert httpx.put(f"{url}/v2/images/{queued}/file", content=b"x",
                     headers={**OCTET, "X-Image-Meta-Store": "fast"}).status_code == 204
    text = log.read_text()
    assert "store cheap" in text and "Traceback" not in text


def test_store_failing_mid_upload_leaves_the_image_queued(
    s3_glint: tuple[str, Path], doomed_s3: S3Server
) -> None:
    url, log = s3_glint
    image_id = _image(url)
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        block = os.urandom(MIB)
        for number in range(40):
            if number == 12:
                sent.set()
                time.sleep(1)
            yield block

    def killer() -> None:
        sent.wait(30)
        doomed_s3.kill()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        response = httpx.put(f"{url}/v2/images/{image_id}/file", content=body(), headers=OCTET,
                             timeout=60)
        assert response.status_code == 503
    except httpx.TransportError:
        pass  # the server answered before reading the whole body
    thread.join()
    deadline = time.monotonic() + 10
    while _status(url, image_id) != "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(url, image_id) == "queued"
    assert "store cheap" in log.read_text()
