"""nginx serving test files: for web-download imports and as the http store
(see shared BACKENDS.md, HTTP store)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
                       check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found


@dataclass
class WebServer:
    url: str
    root: Path
    port: int


@contextmanager
def nginx(folder: Path, redirects: dict[str, str] | None = None) -> Iterator[WebServer]:
    """nginx on a free port serving `folder/www`; `redirects` maps paths to 302 targets.
    Files under `/slow/` are sent at 512 KiB/s; `/redirect/NAME` redirects to `/NAME`,
    `/loop` to itself, and `/broken` answers 500."""
    binary = _nginx()
    root = folder / "www"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    root.mkdir(exist_ok=True)
    port = free_port()
    extra = "\n".join(f"    location = {path} {{ return 302 {target}; }}"
                      for path, target in (redirects or {}).items())
    config = folder / "nginx.conf"
    # Test folders are private to the user running the tests: so are nginx's workers.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    config.write_text(f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {folder}/access.log;
  client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;
  fastcgi_temp_path {folder}/tmp; uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port}; root {root};
    location / {{ autoindex off; }}
    location = /loop {{ return 301 /loop; }}
    location = /broken {{ return 500; }}
    location ~ ^/redirect/(.*)$ {{ return 302 /$1; }}
    location /slow/ {{ limit_rate 512k; }}
{extra}
  }}
}}
""")
    subprocess.run([binary, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(config)],
                   check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield WebServer(url, root, port)
    finally:
        pid = int((folder / "nginx.pid").read_text())
        os.kill(pid, signal.SIGQUIT)
