"""Real servers for tests: databases created per run, and `glint serve` on a free port."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from glint.cli.startup import ensure_sqlite_directory
from glint.db import schema
from glint.db.session import Database, create_database_engine, open_database
from glint.settings import DatabaseSettings

REPO = Path(__file__).resolve().parent.parent
GLINT = Path(sys.executable).parent / "glint"

MARIADB_ROOT = "mysql+pymysql://root@127.0.0.1:3306"
POSTGRES_ROOT = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _ephemeral_ports() -> range:
    """The kernel's range for outgoing connections' local ports."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the kernel's ephemeral range and never handed out
    before in this run: a server told to listen there later cannot lose it to an outgoing
    connection (SeaweedFS's parts dial each other before its filer binds) or to another server
    of this run."""
    return free_port_range(1)


def free_port_range(count: int) -> int:
    """The first of `count` consecutive ports, each as `free_port` promises."""
    ephemeral = _ephemeral_ports()
    for _ in range(500):
        base = random.randrange(10000, 32768 - count)
        ports = range(base, base + count)
        if any(port in _HANDED_OUT or port in ephemeral for port in ports):
            continue
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        _HANDED_OUT.update(ports)
        return base
    raise RuntimeError(f"no {count} free ports outside the ephemeral range")


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database of `backend` for this run, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'glint.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"glint_test_{uuid.uuid4().hex[:12]}"
    root = MARIADB_ROOT if backend == "mariadb" else f"{POSTGRES_ROOT}/postgres"
    engine = create_engine(root, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        if backend == "mariadb":
            yield f"{MARIADB_ROOT}/{name}?charset=utf8mb4"
        else:
            yield f"{POSTGRES_ROOT}/{name}"
    finally:
        with engine.connect() as connection:
            if backend == "postgresql":
                connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}'"
                ))
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


def migrate(url: str) -> None:
    """Bring the database at `url` to the latest schema, as `glint db sync` does."""
    migrating = create_database_engine(DatabaseSettings(url=url), maintenance=True)
    try:
        schema.upgrade(migrating)
    finally:
        migrating.dispose()


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[Database]:
    """A fresh database of `backend`, migrated and opened as a server opens it
    (with its statement limits, glint.db.engines); dropped afterwards."""
    with database(backend, folder) as url:
        migrate(url)
        opened = open_database(DatabaseSettings(url=url))
        try:
            yield opened
        finally:
            opened.dispose()


@dataclass
class GlintServer:
    url: str
    folder: Path
    config: Path
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """kill -9 the whole server: the supervisor and every worker it forked
        (they share its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def glint_command(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GLINT), *args], capture_output=True, text=True, check=check,
                          timeout=120)


@contextmanager
def glint_server(
    folder: Path, database_url: str, *, flavor: str = "trusted",
    extra: dict[str, dict[str, object]] | None = None, workers: int = 1,
    port: int | None = None,
) -> Iterator[GlintServer]:
    """`glint serve` as a separate process on `port` (by default a free one),
    until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    sections: dict[str, dict[str, object]] = {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": port, "workers": workers},
        "database": {"connection": database_url},
        "glance_store": {"stores": "file,http", "default_store": "file",
                         "filesystem_store_datadir": folder / "images"},
        "paste_deploy": {"flavor": flavor},
    }
    for section, values in (extra or {}).items():
        sections.setdefault(section, {}).update(values)
    config = write_config(folder / "glance-api.conf", sections)
    # Migrated in this process, as `glint db sync` does (tests/cli/test_metadefs.py runs that
    # command on every database): another interpreter per server costs seconds on a busy machine.
    connection = str(sections["database"]["connection"])
    ensure_sqlite_directory(connection)
    migrate(connection)
    log = folder / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(GLINT), "serve", "--config-file", str(config)],
            stdout=output, stderr=subprocess.STDOUT, cwd=folder, env={**os.environ},
            start_new_session=True,  # a process group of its own, for `kill`
        )
    server = GlintServer(f"http://127.0.0.1:{port}", folder, config, process, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        server.stop()


def wait_until_up(server: GlintServer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"glint serve exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + "/versions", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"glint serve did not answer in {timeout}s:\n{server.log.read_text()}")


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
