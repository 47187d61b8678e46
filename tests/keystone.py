"""A real Keystone (30.0.0, uWSGI, SQLite, its cache in memory) and memcached
for the auth tests.

Keystone lives in its own virtual environment, tests/.keystone (git-ignored),
installed on first use: its pins must not meet Glint's. memcached comes from
Debian and is installed with apt-get when missing. Both run on free ports for
one test session and are stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import REPO, free_port

KEYSTONE_VENV = REPO / "tests" / ".keystone"
KEYSTONE_REQUIREMENTS = ["keystone==30.0.0", "uwsgi==2.0.31"]
ADMIN_PASSWORD = "keystone-admin-secret"


def ensure_keystone_installed() -> None:
    stamp = KEYSTONE_VENV / ".installed"
    if stamp.exists():
        return
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(KEYSTONE_VENV)],
                   check=True)
    pip = str(KEYSTONE_VENV / "bin" / "pip")
    subprocess.run([pip, "install", "-q", *KEYSTONE_REQUIREMENTS], check=True,
                   stdin=subprocess.DEVNULL, timeout=1200)
    stamp.write_text(" ".join(KEYSTONE_REQUIREMENTS) + "\n")


def ensure_memcached_installed() -> str:
    found = shutil.which("memcached") or (
        "/usr/bin/memcached" if Path("/usr/bin/memcached").exists() else None)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", "memcached"], env=env,
                      stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "memcached"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return shutil.which("memcached") or "/usr/bin/memcached"


def _stop(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()


@contextmanager
def memcached() -> Iterator[str]:
    """memcached on a free port; yields "127.0.0.1:PORT"."""
    binary = ensure_memcached_installed()
    port = free_port()
    process = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                                "-u", "root"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)


@dataclass
class Keystone:
    url: str
    folder: Path
    memcached_servers: str
    admin_token: str = ""
    _roles: dict[str, str] = field(default_factory=dict)

    # Keystone's REST API, for quick set-up ------------------------------

    def token(self, user: str, password: str, project: str | None) -> str:
        scope: dict[str, object] = {}
        if project is not None:
            scope = {"scope": {"project": {"name": project, "domain": {"id": "default"}}}}
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}, **scope}}
        response = httpx.post(f"{self.url}/v3/auth/tokens", json=body, timeout=30)
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def _admin(self) -> httpx.Client:
        if not self.admin_token:
            self.admin_token = self.token("admin", ADMIN_PASSWORD, "admin")
        return httpx.Client(base_url=f"{self.url}/v3", timeout=30,
                            headers={"X-Auth-Token": self.admin_token})

    def role_id(self, name: str) -> str:
        if name not in self._roles:
            with self._admin() as admin:
                found = admin.get("/roles", params={"name": name}).json()["roles"]
                if found:
                    self._roles[name] = found[0]["id"]
                else:
                    created = admin.post("/roles", json={"role": {"name": name}})
                    self._roles[name] = created.json()["role"]["id"]
        return self._roles[name]

    def project(self, name: str | None = None) -> tuple[str, str]:
        """A new project: (name, id)."""
        name = name or f"p-{uuid.uuid4().hex[:10]}"
        with self._admin() as admin:
            response = admin.post("/projects", json={"project": {"name": name,
                                                                 "domain_id": "default"}})
            assert response.status_code == 201, response.text
            return name, response.json()["project"]["id"]

    def user(self, project_id: str, roles: tuple[str, ...], password: str = "pw-secret",
             name: str | None = None) -> str:
        """A new user with `roles` on the project; returns its name."""
        name = name or f"u-{uuid.uuid4().hex[:10]}"
        with self._admin() as admin:
            response = admin.post("/users", json={"user": {
                "name": name, "password": password, "domain_id": "default"}})
            assert response.status_code == 201, response.text
            user_id = response.json()["user"]["id"]
            for role in roles:
                put = admin.put(f"/projects/{project_id}/users/{user_id}/roles/"
                                f"{self.role_id(role)}")
                assert put.status_code == 204, put.text
        return name

    def authtoken_section(self, username: str, password: str,
                          project: str = "service") -> dict[str, object]:
        """The tutorial's [keystone_authtoken] keys, pointed at this Keystone."""
        return {
            "www_authenticate_uri": self.url,
            "auth_url": self.url,
            "memcached_servers": self.memcached_servers,
            "auth_type": "password",
            "project_domain_name": "Default",
            "user_domain_name": "Default",
            "project_name": project,
            "username": username,
            "password": password,
        }

    def client_environment(self, user: str = "admin", password: str = ADMIN_PASSWORD,
                           project: str = "admin") -> dict[str, str]:
        """admin-openrc, as the tutorial sources it."""
        return {
            "OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_NAME": project,
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_AUTH_URL": f"{self.url}/v3", "OS_IDENTITY_API_VERSION": "3",
            "OS_IMAGE_API_VERSION": "2", "OS_INTERFACE": "public",
        }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _manage(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   timeout=300)


@contextmanager
def running_keystone(folder: Path) -> Iterator[Keystone]:
    """Keystone 30 under uWSGI on SQLite, bootstrapped, with a memcached beside it."""
    ensure_keystone_installed()
    bin_dir = KEYSTONE_VENV / "bin"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    for sub in ("fernet-keys", "credential-keys"):
        (folder / sub).mkdir(mode=0o700, exist_ok=True)
    conf = _write(folder / "keystone.conf", "\n".join([
        "[DEFAULT]", "debug = false", "",
        "[database]", f"connection = sqlite:///{folder / 'keystone.db'}", "",
        # The session's admin token is reused for the whole run, which can outlast
        # Keystone's default hour on a loaded machine.
        "[token]", "provider = fernet", "expiration = 86400", "",
        "[fernet_tokens]", f"key_repository = {folder / 'fernet-keys'}", "",
        "[credential]", f"key_repository = {folder / 'credential-keys'}", "",
        # bcrypt's fewest rounds: test passwords need no strength, and every user
        # created and every password token costs one hash (~0.3 s at the default 12).
        "[identity]", "password_hash_rounds = 4", "",
        # Keystone's own cache, in memory: a token validation drops from ~1.5 s to
        # ~30 ms here. One uWSGI process keeps it coherent (with two, a catalog or
        # role change would stay stale in the other), and one thread keeps SQLite's
        # writers apart (threads meet "database is locked").
        "[cache]", "enabled = true", "backend = dogpile.cache.memory", "",
    ]))
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    user = ["--keystone-user", subprocess.run(["id", "-un"], capture_output=True, text=True
                                              ).stdout.strip(),
            "--keystone-group", subprocess.run(["id", "-gn"], capture_output=True, text=True
                                               ).stdout.strip()]
    # The key repositories do not need the database: made while db_sync runs
    # (each keystone-manage spends seconds importing Keystone).
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(_manage, [[*manage, "db_sync"], [*manage, "fernet_setup", *user],
                                [*manage, "credential_setup", *user]]))  # raises any failure
    _manage([*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
             "--bootstrap-admin-url", f"{url}/v3/", "--bootstrap-internal-url", f"{url}/v3/",
             "--bootstrap-public-url", f"{url}/v3/", "--bootstrap-region-id", "RegionOne"])
    ini = _write(folder / "uwsgi.ini", "\n".join([
        "[uwsgi]", f"http-socket = 127.0.0.1:{port}", "processes = 1", "threads = 1",
        "master = true", "lazy-apps = true", "enable-threads = true", "buffer-size = 65535",
        "add-header = Connection: close", "die-on-term = true",
        f"home = {KEYSTONE_VENV}", "module = keystone.wsgi.api:application",
        f"env = OS_KEYSTONE_CONFIG_FILES={conf}", "",
    ]))
    log = open(folder / "keystone.log", "wb")
    with memcached() as memcached_servers:
        process = subprocess.Popen([str(bin_dir / "uwsgi"), "--ini", str(ini)],
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise RuntimeError("keystone exited:\n"
                                       + (folder / "keystone.log").read_text()[-3000:])
                try:
                    if httpx.get(f"{url}/v3", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("keystone did not answer in 90 s")
                time.sleep(0.3)
            keystone = Keystone(url=url, folder=folder, memcached_servers=memcached_servers)
            keystone.role_id("service")
            yield keystone
        finally:
            _stop(process, group=True)
            log.close()
