"""ListableStore: what each writable driver lists on its real server (a temporary
folder, SeaweedFS and Ceph RGW for s3, Swift, Ceph RBD)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from glint.stores.base import ListableStore, StoredImage
from glint.stores.http import HttpStore
from tests.stores.conftest import MIB, Backend, chunks
from tests.stores.test_contract import WRITER, _remove_when_released, recoverable_store


def listable(backend: Backend) -> ListableStore:
    assert isinstance(backend.store, ListableStore)
    return backend.store


async def listed(backend: Backend, image_id: str) -> StoredImage | None:
    found = [s async for s in listable(backend).stored_images() if s.image_id == image_id]
    assert len(found) <= 1
    return found[0] if found else None


def _recent(moment: datetime) -> bool:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now - timedelta(minutes=5) <= moment <= now + timedelta(minutes=5)


async def test_lists_published_data(writable: Backend) -> None:
    image_id = str(uuid.uuid4())
    # Large enough for parts or segments where a store cuts data: they are not leftovers.
    stored = await writable.store.write(image_id, chunks(b"x" * (7 * MIB)))  # type: ignore[attr-defined]
    found = await listed(writable, image_id)
    assert found is not None
    assert found.data is not None and found.data.url == stored.location.url
    assert found.data.store == writable.store.name
    assert found.leftovers == ()
    assert _recent(found.modified)
    await writable.store.delete(stored.location)  # type: ignore[attr-defined]
    assert await listed(writable, image_id) is None


async def test_lists_what_a_killed_write_left(writable: Backend) -> None:
    assert writable.config is not None
    config = writable.config
    image_id = str(uuid.uuid4())
    before = writable.contents()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER,
         json.dumps([config.name, config.type, config.section, dict(config.options)]),
         image_id, "13"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "sent"
        deadline = time.monotonic() + 30
        while writable.contents() == before:
            assert time.monotonic() < deadline, "the writer left no trace"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    found = await listed(writable, image_id)
    assert found is not None and found.data is None and found.leftovers
    assert _recent(found.modified)
    await _remove_when_released(recoverable_store(writable), image_id)
    assert await listed(writable, image_id) is None


def test_http_store_lists_nothing() -> None:
    assert not isinstance(HttpStore("web"), ListableStore)
