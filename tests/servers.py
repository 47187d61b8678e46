"""Real servers for tests: databases created per run, and `glint serve` on a free port."""

from __future__ import annotations

import os
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

REPO = Path(__file__).resolve().parent.parent
GLINT = Path(sys.executable).parent / "glint"

MARIADB_ROOT = "mysql+pymysql://root@127.0.0.1:3306"
POSTGRES_ROOT = "postgresql+psycopg://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@dataclass
class GlintServer:
    url: str
    folder: Path
    config: Path
    process: subprocess.Popen[bytes]
    log: Path

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
) -> Iterator[GlintServer]:
    """`glint serve` as a separate process on a free port, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
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
    glint_command("db", "sync", "--config-file", str(config))
    log = folder / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(GLINT), "serve", "--config-file", str(config)],
            stdout=output, stderr=subprocess.STDOUT, cwd=folder, env={**os.environ},
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
