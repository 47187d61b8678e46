"""Upstream Glance 33 for tests, run exactly as the benchmark runs it (bench/servers.py:
uWSGI, 2 processes, no auth, an allow-everything policy), installed into
bench/.work/glance-venv on first use (a few minutes: uWSGI compiles)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import REPO

sys.path.insert(0, str(REPO / "bench"))

import servers as bench_servers  # noqa: E402


@contextmanager
def running_glance(folder: Path, authtoken: dict[str, object] | None = None) -> Iterator[str]:
    """Glance on SQLite in `folder`, behind Keystone when given its `[keystone_authtoken]`
    section; yields its base URL."""
    bench_servers.ensure_glance_venv()
    with bench_servers.glance(folder, "sqlite", authtoken) as server:
        yield server.url
