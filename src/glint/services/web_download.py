"""web-download: fetch a URI into the staging area.

The URI and every redirect target pass the `[import_filtering_opts]` rules
(`glint.domain.import_filter`), redirects are followed by hand (at most
MAX_REDIRECTS) so each target is checked before it is fetched, and the body
is staged with `ingest` (hashed once, never beyond image_size_cap).

DNS rebinding: a name is resolved once, its addresses are checked, and the
connection goes to one of exactly those addresses (`PinnedBackend`), so a
resolver that answers differently a moment later (a public address for the
check, 127.0.0.1 for the fetch) gains nothing. The URL keeps its host name,
so the Host header, TLS SNI and certificate checks still use the name.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
from starlette.concurrency import run_in_threadpool

from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.services.import_progress import ImportProgress
from glint.services.ingest import Ingested, IngestRules
from glint.services.staging import Staging

MAX_REDIRECTS = 5
JSON_CAP = 1024 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
TIMEOUTS = {"connect": 10.0, "read": 60.0, "write": 60.0, "pool": 10.0}
FAILURES = (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError,
            httpcore.UnsupportedProtocol)


class DownloadFailed(Exception):
    """The URI could not be fetched; the message is recorded on the task."""


def resolve_host(host: str, port: int) -> Sequence[str]:
    """The addresses the system resolver gives for `host` (OSError if none)."""
    return [str(info[4][0])
            for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the given, already checked addresses (in order, the first
    that answers) whatever name is asked for, and to nothing else."""

    def __init__(self, host: str, addresses: Iterable[str]) -> None:
        self.host = host
        self.addresses = list(addresses)
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.lower().rstrip(".").strip("[]") != self.host:
            raise httpcore.ConnectError(f"{host} is not the checked host {self.host}")
        failure: Exception = httpcore.ConnectError(f"{host} has no checked address")
        for address in self.addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("web-download never uses Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


@asynccontextmanager
async def final_response(uri: str, rules: ImportFilter, resolve: Resolver,
                         headers: Mapping[str, str], tls: ssl.SSLContext | None = None,
                         method: str = "GET") -> AsyncIterator[httpcore.Response]:
    """The 200 response at the end of `uri`'s redirects, each target checked and
    pinned. `headers` go only to `uri`'s own origin (a token never follows a
    redirect elsewhere). DownloadFailed for anything else."""
    current = uri
    origin = _origin(uri)
    for _ in range(MAX_REDIRECTS + 1):
        addresses = await run_in_threadpool(check_uri, current, rules, resolve)
        host = (urlsplit(current).hostname or "").lower().rstrip(".")
        sent = [(k.encode(), v.encode()) for k, v in headers.items()] \
            if _origin(current) == origin else []
        try:
            async with httpcore.AsyncConnectionPool(
                    ssl_context=tls, network_backend=PinnedBackend(host, addresses)) as pool, \
                    pool.stream(method, current, headers=sent,
                                extensions={"timeout": TIMEOUTS}) as response:
                location = header(response, b"location")
                if response.status in REDIRECTS and location:
                    current = urljoin(current, location)
                    continue
                if response.status != 200:
                    raise DownloadFailed(f"{uri} answered {response.status}")
                yield response
                return
        except FAILURES as exc:
            raise DownloadFailed(f"Downloading {current} failed: {exc or type(exc).__name__}") \
                from exc
    raise DownloadFailed(f"{uri} redirected more than {MAX_REDIRECTS} times")


async def fetch(uri: str, *, rules: ImportFilter, resolve: Resolver, staging: Staging,
                image_id: str, data: IngestRules, headers: Mapping[str, str] | None = None,
                progress: ImportProgress | None = None, tls: ssl.SSLContext | None = None,
                ) -> Ingested:
    """Fetch `uri` into the staging area, checking every redirect target; the data
    is staged by `Staging.take` under the `data` rules (hashed once, capped,
    inspected). Returns what it found.

    `tls` replaces the default TLS context (certifi's CAs), e.g. to trust a test CA.

    Raises UriRefused when a target breaks the rules, DownloadFailed for HTTP
    errors, too many redirects or an unreachable server, and what `ingest`
    raises (ImageTooLarge past the cap, StorageFull when the disk is full...).
    """
    async with final_response(uri, rules, resolve, headers or {}, tls) as response:
        chunks = response.aiter_stream()
        if progress is not None:
            progress.begin("download", _length(response))
            chunks = progress.counted(chunks)
        return await staging.take(image_id, chunks, data)


def _length(response: httpcore.Response) -> int | None:
    length = header(response, b"content-length")
    return int(length) if length is not None and length.strip().isdigit() else None


async def fetch_json(uri: str, *, rules: ImportFilter, resolve: Resolver,
                     headers: Mapping[str, str] | None = None) -> Any:
    """The JSON document at `uri` (at most JSON_CAP bytes), fetched like `fetch`."""
    body = bytearray()
    async with final_response(uri, rules, resolve, headers or {}) as response:
        async for chunk in response.aiter_stream():
            body += chunk
            if len(body) > JSON_CAP:
                raise DownloadFailed(f"{uri} answered more than {JSON_CAP} bytes of JSON")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise DownloadFailed(f"{uri} did not answer JSON") from exc


def _origin(uri: str) -> tuple[str, str, int | None]:
    parts = urlsplit(uri)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None

