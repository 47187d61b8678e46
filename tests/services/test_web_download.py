"""web-download against real local HTTP servers: the connection goes to the
address that was checked, never to a later answer of the resolver (DNS
rebinding), with the Host header still naming the host; redirect targets are
resolved and checked the same way."""

from __future__ import annotations

import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from glint.domain.import_filter import ImportFilter, UriRefused
from glint.services.ingest import IngestRules
from glint.services.staging import Staging
from glint.services.web_download import fetch
from tests.servers import free_port

RULES = IngestRules(size_cap=1 << 20, algorithm="sha512")


@dataclass
class Served:
    """What one server answers, and the Host headers of the requests it got."""

    body: bytes
    redirect: str | None = None
    hosts: list[str] = field(default_factory=list)


@contextmanager
def http_server(address: str, port: int, served: Served,
                tls: ssl.SSLContext | None = None) -> Iterator[None]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            served.hosts.append(self.headers["Host"])
            if served.redirect:
                self.send_response(302)
                self.send_header("Location", served.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class Rebinding:
    """A resolver giving `first` for the first look-up of a name, `later` after."""

    def __init__(self, answers: dict[str, tuple[str, str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        first, later = self.answers[host]
        answer = later if host in self.asked else first
        self.asked.append(host)
        return [answer]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def checked() -> Served:
    return Served(b"data from the checked address")


@pytest.fixture
def rebound() -> Served:
    return Served(b"data from the address the name was rebound to")


@pytest.fixture
def servers(port: int, checked: Served, rebound: Served) -> Iterator[None]:
    # 127.0.0.2 stands for the public address the check sees; 127.0.0.1 for the
    # internal one a rebinding resolver gives next.
    with http_server("127.0.0.2", port, checked), http_server("127.0.0.1", port, rebound):
        yield


async def test_connects_to_the_checked_address(tmp_path: Path, port: int, checked: Served,
                                               rebound: Served, servers: None) -> None:
    resolver = Rebinding({"images.test": ("127.0.0.2", "127.0.0.1")})
    rules = ImportFilter(allowed_hosts=("images.test",), allowed_ports=(port,))
    staging = Staging(tmp_path)
    image_id = str(uuid.uuid4())
    await fetch(f"http://images.test:{port}/disk.raw", rules=rules, resolve=resolver,
                staging=staging, image_id=image_id, data=RULES)
    assert staging.path(image_id).read_bytes() == checked.body
    assert resolver.asked == ["images.test"]
    assert checked.hosts == [f"images.test:{port}"]
    assert rebound.hosts == []


async def test_redirect_targets_are_pinned_too(tmp_path: Path, port: int, checked: Served,
                                               rebound: Served, servers: None) -> None:
    rebound.redirect = f"http://mirror.test:{port}/disk.raw"
    resolver = Rebinding({"images.test": ("127.0.0.1", "127.0.0.2"),
                          "mirror.test": ("127.0.0.2", "127.0.0.1")})
    rules = ImportFilter(allowed_hosts=("images.test", "mirror.test"), allowed_ports=(port,))
    staging = Staging(tmp_path)
    image_id = str(uuid.uuid4())
    await fetch(f"http://images.test:{port}/start", rules=rules, resolve=resolver,
                staging=staging, image_id=image_id, data=RULES)
    assert staging.path(image_id).read_bytes() == checked.body
    assert resolver.asked == ["images.test", "mirror.test"]
    assert (rebound.hosts, checked.hosts) == ([f"images.test:{port}"], [f"mirror.test:{port}"])


async def test_redirect_to_an_internal_address_is_refused(tmp_path: Path, port: int,
                                                          checked: Served, rebound: Served,
                                                          servers: None) -> None:
    checked.redirect = f"http://internal.test:{port}/secret"
    resolver = Rebinding({"images.test": ("127.0.0.2", "127.0.0.2"),
                          "internal.test": ("127.0.0.1", "127.0.0.1")})
    # images.test may be internal only because the test allows it; internal.test may not.
    rules_with_start = ImportFilter(allowed_hosts=("images.test",), allowed_ports=(port,))
    rules = ImportFilter(allowed_ports=(port,))
    staging = Staging(tmp_path)
    image_id = str(uuid.uuid4())
    with pytest.raises(UriRefused, match="internal.test"):
        await fetch(f"http://images.test:{port}/start", rules=rules_with_start,
                    resolve=resolver, staging=staging, image_id=image_id, data=RULES)
    assert rebound.hosts == []
    assert not staging.exists(image_id)
    with pytest.raises(UriRefused, match="internal addresses"):
        await fetch(f"http://internal.test:{port}/secret", rules=rules, resolve=resolver,
                    staging=staging, image_id=image_id, data=RULES)
    assert rebound.hosts == []


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (openssl): (certificate, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    return cert, key


async def test_tls_keeps_the_name_while_connecting_to_the_checked_address(
        tmp_path: Path, port: int, checked: Served) -> None:
    cert, key = _certificate(tmp_path, "images.test")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    names: list[str | None] = []

    def record_sni(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    server_side.sni_callback = record_sni
    trusting = ssl.create_default_context(cafile=str(cert))
    resolver = Rebinding({"images.test": ("127.0.0.2", "127.0.0.1")})
    rules = ImportFilter(allowed_hosts=("images.test",), allowed_ports=(port,))
    staging = Staging(tmp_path / "staging")
    image_id = str(uuid.uuid4())
    with http_server("127.0.0.2", port, checked, server_side):
        await fetch(f"https://images.test:{port}/disk.raw", rules=rules, resolve=resolver,
                    staging=staging, image_id=image_id, data=RULES, tls=trusting)
    # SNI and the certificate check used the name; the connection, the checked address.
    assert names == ["images.test"]
    assert checked.hosts == [f"images.test:{port}"]
    assert staging.path(image_id).read_bytes() == checked.body
