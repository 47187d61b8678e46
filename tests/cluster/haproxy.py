"""HAProxy (Debian's, installed with apt-get when missing) balancing Glint nodes,
as production deployments put one in front of the API nodes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port

# Health checks every 300 ms; two failures take a node out, two successes bring it back.
# A check may take 3 s (without `timeout check` HAProxy allows only `inter`, and on a
# loaded 2-CPU machine a healthy node's answer can take longer than 300 ms: CI saw every
# node taken out and a 503 from HAProxy). A killed node fails its check at once anyway.
CONFIG = """global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 300s
  timeout server 300s
  timeout check 3s
  option redispatch
  retries 3
frontend glint
  bind 127.0.0.1:{port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /healthcheck
  http-check expect status 200
  default-server inter 300ms fall 2 rise 2
{servers}
"""


def ensure_haproxy_installed() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "haproxy"]
    if subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass
class Balancer:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def haproxy(folder: Path, node_urls: Sequence[str]) -> Iterator[Balancer]:
    """HAProxy on a free port, round-robin over `node_urls` with health checks."""
    binary = ensure_haproxy_installed()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(
        f"  server node{number} {url.removeprefix('http://')} check"
        for number, url in enumerate(node_urls))
    config = folder / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers))
    log = folder / "haproxy.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([binary, "-f", str(config), "-db"], stdin=subprocess.DEVNULL,
                                   stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/versions", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Balancer(url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
