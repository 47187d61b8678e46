"""Private PostgreSQL and MariaDB servers that a test may kill, freeze and restart.

Never the machine's own servers (5432, 3306): each instance has its own data
folder, a free port and its own Unix socket, and runs in its own session;
`kill()` and `freeze()` signal the server's process and its descendants, and
nothing else. A fresh instance starts in a few seconds (PostgreSQL's initdb
about 2 s, mariadb-install-db about 5 s).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.servers import free_port

DATABASE = "glint"


@dataclass
class PrivateServer:
    """One private database server; `url` names its `glint` database."""

    backend: str
    port: int
    folder: Path
    command: list[str]
    # The account the server runs as (PostgreSQL refuses to run as root).
    user: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self.backend == "postgresql":
            return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{DATABASE}?charset=utf8mb4"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def start(self, timeout: float = 60) -> None:
        """Start (or restart) the server and wait until it answers queries."""
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                self.command, stdout=output, stderr=subprocess.STDOUT, cwd=self.folder,
                start_new_session=True, user=self.user,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.backend} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                self.query("SELECT 1")
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"{self.backend} did not answer in {timeout}s:\n"
                           f"{self.log.read_text()[-3000:]}")

    def query(self, statement: str, database: str | None = None) -> None:
        """Run one statement in autocommit mode (as the superuser)."""
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                 dbname=database or "postgres", connect_timeout=2,
                                 autocommit=True) as connection:
                connection.execute(statement.encode())
            return
        import pymysql

        connection = pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                                     database=database, connect_timeout=2, read_timeout=5,
                                     autocommit=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def _signal(self, signum: int) -> None:
        """Signal the server and every process it started (PostgreSQL's backends
        call setsid(), so its process group holds the postmaster alone)."""
        for process in self._processes():
            try:
                process.send_signal(signum)
            except psutil.NoSuchProcess:
                pass

    def kill(self) -> None:
        """SIGKILL every process of the server, as a crash would."""
        if self.process is None or self.process.poll() is not None:
            return
        survivors = self._processes()
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        psutil.wait_procs(survivors, timeout=10)

    def freeze(self) -> None:
        """SIGSTOP every process: connections stay open and nothing answers."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def ensure_running(self) -> None:
        """Undo whatever a test did: thaw a frozen server, restart a killed one."""
        if self.process is not None and self.process.poll() is None:
            self.thaw()
        else:
            self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        survivors = self._processes()
        self._signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        psutil.wait_procs(survivors, timeout=10)

    def _processes(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            leader = psutil.Process(self.process.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or name]
    return found[-1]


@contextmanager
def private_server(backend: str, folder: Path) -> Iterator[PrivateServer]:
    """A private server of `backend` ("postgresql" or "mariadb"); see below."""
    starter = private_postgresql() if backend == "postgresql" else private_mariadb(folder)
    with starter as server:
        yield server


@contextmanager
def private_postgresql() -> Iterator[PrivateServer]:
    """A private PostgreSQL with an empty `glint` database, stopped and removed afterwards.

    Its folder is made outside pytest's tmp_path, which the postgres account
    (needed when tests run as root) cannot enter.
    """
    folder = Path(tempfile.mkdtemp(prefix="glint-private-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        shutil.chown(folder, user, user)
    port = free_port()
    data = folder / "data"
    subprocess.run([_postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True, user=user,
                   cwd=folder)
    server = PrivateServer("postgresql", port, folder, [
        _postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
    ], user=user)
    try:
        server.start()
        server.query(f"CREATE DATABASE {DATABASE}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def private_mariadb(folder: Path) -> Iterator[PrivateServer]:
    """A private MariaDB with an empty `glint` database, stopped afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    data = folder / "data"
    small = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-log-bin"]
    root = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                    "--auth-root-authentication-method=normal", "--skip-test-db", *root, *small],
                   check=True, capture_output=True, cwd=folder)
    server = PrivateServer("mariadb", port, folder, [
        "mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}",
        "--bind-address=127.0.0.1", f"--socket={folder / 'mariadb.sock'}",
        f"--pid-file={folder / 'mariadb.pid'}", "--skip-name-resolve", *root, *small,
    ])
    try:
        server.start()
        server.query(f"CREATE DATABASE {DATABASE}")
        yield server
    finally:
        server.stop()
