"""The two servers under test: upstream Glance 33 under uWSGI, and Glint.

Each server gets a fresh run folder, a fresh database (SQLite file or a MariaDB database created
here and dropped after), a free 127.0.0.1 port and 2 worker processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import free_port, log, stop_process, tail

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
GLANCE_VENV = WORK / "glance-venv"
# boto3: glance_store's s3 driver needs it (bench-cache runs Glance on S3).
GLANCE_REQUIREMENTS = ["glance==33.0.0", "pymysql", "uwsgi==2.0.31", "boto3"]
REPO_VENV = REPO / ".venv"
MARIADB_ROOT = "mysql+pymysql://root@127.0.0.1"
READY_TIMEOUT = 90.0


@dataclass
class Server:
    """A server we started: its name, base URL and root process."""

    name: str
    database: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def ensure_glance_venv() -> None:
    """Create `.work/glance-venv` with Glance 33, PyMySQL, uWSGI and boto3 unless already there."""
    stamp = GLANCE_VENV / ".bench-installed"
    wanted = " ".join(GLANCE_REQUIREMENTS)
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    log(f"installing {wanted} into {GLANCE_VENV} (one time, a few minutes: uWSGI compiles)")
    pip = [str(GLANCE_VENV / "bin" / "pip"), "install", "-q"]
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(GLANCE_VENV)], check=True)
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
    # An older list installed: pip adds what is new and keeps what is already there.
    subprocess.run([*pip, *GLANCE_REQUIREMENTS], check=True)
    stamp.write_text(wanted + "\n")


@contextmanager
def database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh database URL of `kind` ("sqlite" or "mariadb"); MariaDB ones are dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / (name + '.db')}"
        return
    import pymysql

    def execute(statement: str) -> None:
        connection = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    execute(f"DROP DATABASE IF EXISTS {name}")
    execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"{MARIADB_ROOT}/{name}?charset=utf8mb4"
    finally:
        execute(f"DROP DATABASE IF EXISTS {name}")


def _write_ini(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    lines: list[str] = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}".rstrip() for key, value in options.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def _merged(sections: dict[str, dict[str, object]],
            extra: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """`sections` with `extra`'s options added (or replaced), section by section."""
    merged = {name: dict(options) for name, options in sections.items()}
    for name, options in extra.items():
        merged.setdefault(name, {}).update(options)
    return merged


def _add_trusted_pipeline(paste: Path) -> None:
    """Add the flavor `trusted` to Glance's paste file: the `keystone` pipeline without
    authtoken, so the context comes from the identity headers the client sends."""
    lines = paste.read_text().splitlines()
    [keystone] = [line for line in lines if line.startswith("keystone = ")]
    trusted = keystone.replace("keystone = ", "trusted = ", 1).replace(" authtoken", "")
    lines.insert(lines.index(keystone) + 1, trusted)
    # The app the flavor names: glance-api-<flavor>, routed like the others.
    lines += ["", "[composite:glance-api-trusted]",
              "paste.composite_factory = glance.api:root_app_factory",
              "/: api", "/healthcheck: healthcheck"]
    paste.write_text("\n".join(lines) + "\n")


def _wait_ready(name: str, url: str, process: subprocess.Popen[bytes], log_path: Path,
                ready: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(log_path)}")
        try:
            if httpx.get(f"{url}/v2/images?limit=1", timeout=5).status_code in ready:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_process(process)
    raise RuntimeError(f"{name} did not answer within {READY_TIMEOUT:.0f} s:\n{tail(log_path)}")


def _spawn(command: list[str], folder: Path, log_path: Path,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as output:
        return subprocess.Popen(
            command, cwd=folder, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def _run_quietly(command: list[str], folder: Path) -> None:
    """Run a setup command; show its output only if it fails."""
    done = subprocess.run(command, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _glance_policy(folder: Path) -> Path:
    """Every rule Glance knows, set to "" (always allowed)."""
    script = (
        "import json; from glance.policies import list_rules; "
        "print(json.dumps({rule.name: '' for rule in list_rules()}))"
    )
    rules = json.loads(subprocess.run(
        [str(GLANCE_VENV / "bin" / "python"), "-c", script],
        check=True, capture_output=True, text=True,
    ).stdout)
    rules["default"] = ""
    # JSON is YAML: oslo.policy reads this file as YAML.
    path = folder / "policy.yaml"
    path.write_text(json.dumps(rules, indent=1, sort_keys=True))
    return path


@contextmanager
def glance(folder: Path, db_kind: str,
           authtoken: dict[str, object] | None = None, *,
           extra: dict[str, dict[str, object]] | None = None,
           db_name: str = "glance_bench",
           identity_headers: bool = False) -> Iterator[Server]:
    """Upstream Glance 33 served by uWSGI with 2 processes, as devstack does; with
    `authtoken` (a [keystone_authtoken] section) behind Keystone, with `identity_headers`
    taking the caller's X-Identity-Status, X-Project-Id, X-Roles… as Keystone's pipeline does
    after authtoken, otherwise unauthenticated (an admin with no project). The policy allows
    everything either way. `extra` adds options to glance-api.conf (section by section);
    `db_name` names its database."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for sub in ("images", "staging", "cache", "locks"):
        (folder / sub).mkdir()
    port = free_port()
    log_path = folder / "server.log"
    with database(db_kind, folder, db_name) as db_url:
        shutil.copy(GLANCE_VENV / "etc" / "glance" / "glance-api-paste.ini", folder)
        if identity_headers:
            _add_trusted_pipeline(folder / "glance-api-paste.ini")
        _write_ini(folder / "glance-api.conf", _merged({
            "DEFAULT": {
                "bind_host": "127.0.0.1", "bind_port": port, "workers": 2,
                "node_staging_uri": f"file://{folder / 'staging'}",
                "image_cache_dir": folder / "cache",
            },
            "database": {"connection": db_url},
            "glance_store": {
                "stores": "file,http", "default_store": "file",
                "filesystem_store_datadir": f"{folder / 'images'}/",
            },
            "oslo_concurrency": {"lock_path": folder / "locks"},
            "oslo_policy": {
                "policy_file": _glance_policy(folder),
                "enforce_new_defaults": "False", "enforce_scope": "False",
            },
            "paste_deploy": {"flavor": "keystone" if authtoken else
                             "trusted" if identity_headers else "",
                             "config_file": folder / "glance-api-paste.ini"},
            **({"keystone_authtoken": authtoken} if authtoken else {}),
        }, extra or {}))
        _run_quietly([str(GLANCE_VENV / "bin" / "glance-manage"), "--config-dir", str(folder),
                      "db_sync"], folder)
        uwsgi_ini = _write_ini(folder / "uwsgi.ini", {"uwsgi": {
            "http-socket": f"127.0.0.1:{port}",
            "module": "glance.wsgi.api:application",
            "virtualenv": GLANCE_VENV,
            # oslo.concurrency's prlimit (qemu-img in the image_conversion plugin) re-runs
            # sys.executable, which under uWSGI is uwsgi itself.
            "py-sys-executable": GLANCE_VENV / "bin" / "python",
            "env": f"OS_GLANCE_CONFIG_DIR={folder}",
            "processes": 2, "threads": 1,
            "master": "true", "lazy-apps": "true", "enable-threads": "true",
            "buffer-size": 65535,
            "add-header": "Connection: close",
            "die-on-term": "true",
            # Glint is run without an access log too: per-request log lines are not the work.
            "disable-logging": "true",
        }})
        process = _spawn([str(GLANCE_VENV / "bin" / "uwsgi", ), "--ini", str(uwsgi_ini)],
                         folder, log_path)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready("Glance", url, process, log_path,
                        (401,) if authtoken or identity_headers else (200,))
            yield Server("glance", db_kind, url, process, log_path)
        finally:
            stop_process(process)


@contextmanager
def glint(folder: Path, db_kind: str, *, extra: dict[str, dict[str, object]] | None = None,
          name: str = "glint") -> Iterator[Server]:
    """Glint from the repo's `.venv`: `glint serve --config-file …` with 2 workers. `extra`
    adds options to its glint-api.conf (section by section); `name` names its config file
    (`<name>-api.conf`) and database (`<name>_bench`), so two can run at once."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "images").mkdir(parents=True)
    port = free_port()
    log_path = folder / "server.log"
    glint_bin = str(REPO_VENV / "bin" / "glint")
    suffix = "" if db_kind == "sqlite" else f"-{db_kind}"
    with database(db_kind, folder, f"{name}_bench") as db_url:
        config = _write_ini(WORK / f"{name}-api{suffix}.conf", _merged({
            "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": port, "workers": 2},
            "database": {"connection": db_url},
            "glance_store": {
                "stores": "file,http", "default_store": "file",
                "filesystem_store_datadir": folder / "images",
            },
            "paste_deploy": {"flavor": ""},
        }, extra or {}))
        _run_quietly([glint_bin, "db", "sync", "--config-file", str(config)], folder)
        process = _spawn([glint_bin, "serve", "--config-file", str(config)], folder, log_path)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready("Glint", url, process, log_path)
            yield Server("glint", db_kind, url, process, log_path)
        finally:
            stop_process(process)
