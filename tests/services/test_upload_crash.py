"""A server killed in the middle of an upload never publishes half an image."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.servers import glint_server


def _slow_body(stop: threading.Event) -> Iterator[bytes]:
    block = os.urandom(1 << 20)
    while not stop.is_set():
        yield block
        time.sleep(0.01)


def test_kill_during_upload_then_recover(tmp_path: Path) -> None:
    database = tmp_path / "glint.db"
    with glint_server(tmp_path, f"sqlite:///{database}", flavor="") as server:
        created = httpx.post(f"{server.url}/v2/images",
                             json={"disk_format": "raw", "container_format": "bare"}).json()
        stop = threading.Event()

        def upload() -> None:
            try:
                httpx.put(f"{server.url}/v2/images/{created['id']}/file", content=_slow_body(stop),
                          headers={"Content-Type": "application/octet-stream"}, timeout=30)
            except httpx.HTTPError:
                pass

        uploader = threading.Thread(target=upload)
        uploader.start()
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.url}/v2/images/{created['id']}").json()["status"] != "saving":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        uploader.join()
        store = tmp_path / "images"
        assert created["id"] not in os.listdir(store), "a partial upload was published"
        # Pretend the dead upload's heartbeat stopped long ago.
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE images SET updated_at = '2000-01-01 00:00:00' WHERE id = ?",
                               (created["id"],))
    with glint_server(tmp_path, f"sqlite:///{database}", flavor="") as restarted:
        assert os.listdir(tmp_path / "images") == [], "partial files survived the restart"
        shown = httpx.get(f"{restarted.url}/v2/images/{created['id']}").json()
        assert shown["status"] == "queued"
        retry = httpx.put(f"{restarted.url}/v2/images/{created['id']}/file", content=b"again",
                          headers={"Content-Type": "application/octet-stream"})
        assert retry.status_code == 204
        assert httpx.get(f"{restarted.url}/v2/images/{created['id']}/file").content == b"again"
