"""Memory stays flat whatever the image size: a 256 MiB livecopy, RSS of the replicate process
sampled every 20 ms; and its speed beside a plain upload of the same bytes to the same kind of
server (the figure the README quotes)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from glint.client.images import ImageClient
from tests.servers import GLINT, glint_server

MiB = 1 << 20
SIZE = 256 * MiB


def _payload() -> Iterator[bytes]:
    block = os.urandom(4 * MiB)
    for index in range(SIZE // len(block)):
        # Each block differs, so no store or hash can take a shortcut.
        yield index.to_bytes(8, "big") + block[8:]


def _peak_rss(process: subprocess.Popen[str]) -> int:
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    return peak


def test_a_256_mib_copy_keeps_memory_flat(tmp_path: Path) -> None:
    with glint_server(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}", flavor="") as source, \
            glint_server(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", flavor="") as target, \
            ImageClient(source.url) as left, ImageClient(target.url) as right:
        image = left.create({"name": "big", "disk_format": "raw", "container_format": "bare"})
        started = time.monotonic()
        left.upload(image["id"], _payload(), SIZE)
        upload_seconds = time.monotonic() - started

        started = time.monotonic()
        process = subprocess.Popen([str(GLINT), "replicate", "livecopy", source.url, target.url],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = _peak_rss(process)
        copy_seconds = time.monotonic() - started
        output, errors = process.communicate()
        assert process.returncode == 0, output + errors
        assert "1 created" in output

        copied = right.image(image["id"]) or {}
        assert (copied.get("size"), copied.get("os_hash_value")) == \
            (SIZE, (left.image(image["id"]) or {}).get("os_hash_value"))
        # The same command copying nothing: what the interpreter and imports take.
        idle = subprocess.Popen([str(GLINT), "replicate", "size", source.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        baseline = _peak_rss(idle)
        idle.communicate()
        print(f"\nupload {SIZE / upload_seconds / 1e6:.0f} MB/s, livecopy (process start "
              f"included) {SIZE / copy_seconds / 1e6:.0f} MB/s, replicate peak RSS "
              f"{peak / MiB:.0f} MiB (copying nothing: {baseline / MiB:.0f} MiB)")
        assert 0 < peak < 100 * MiB
        assert peak < baseline + 16 * MiB
