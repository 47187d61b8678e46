"""Reading http(s) locations that callers without the service role name.

Such URLs pass the `[import_filtering_opts]` rules (`glint.domain.import_filter`),
as web-download URIs do: scheme, host and port lists, no encoded numeric
hosts, no loopback, link-local, private or reserved addresses unless the host
is allowed. Redirects are followed by hand, at most MAX_REDIRECTS, and every
target is checked before it is requested, so a public URL cannot bounce the
request to an internal service.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
from starlette.concurrency import run_in_threadpool

from glint.domain.errors import InvalidInput
from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.stores.base import READ_CHUNK_SIZE

MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def resolve_host(host: str, port: int) -> Sequence[str]:
    """The addresses the system resolver gives for `host` (OSError if none)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


@dataclass(frozen=True)
class CheckedFetcher:
    """HTTP requests to user-named URLs, every hop checked against the rules."""

    rules: ImportFilter = field(default_factory=ImportFilter)
    resolve: Resolver = resolve_host

    async def check(self, url: str) -> None:
        """Raise UriRefused (400) when `url` breaks the rules."""
        await run_in_threadpool(check_uri, url, self.rules, self.resolve)

    async def size(self, url: str) -> int:
        """The Content-Length a HEAD of `url` answers; InvalidInput when there is none."""
        async with self._final("HEAD", url) as response:
            length = response.headers.get("content-length", "")
            if not length.isdigit():
                raise InvalidInput(f"Invalid location: {url} does not tell its size")
            return int(length)

    async def read(self, url: str) -> AsyncIterator[bytes]:
        """The body at `url`, in chunks of at most READ_CHUNK_SIZE bytes."""
        async with self._final("GET", url) as response:
            async for chunk in response.aiter_bytes():
                for offset in range(0, len(chunk), READ_CHUNK_SIZE):
                    yield chunk[offset:offset + READ_CHUNK_SIZE]

    @asynccontextmanager
    async def _final(self, method: str, url: str) -> AsyncIterator[httpx.Response]:
        """The response after checked redirects; InvalidInput unless it is a 200."""
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False,
                                     trust_env=False) as client:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                await self.check(current)
                try:
                    response = await client.send(client.build_request(method, current),
                                                 stream=True)
                except httpx.HTTPError as exc:
                    raise InvalidInput(f"Invalid location: cannot reach {current}: {exc}"
                                       ) from exc
                try:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise InvalidInput(f"Invalid location: {current} answered "
                                           f"{response.status_code}")
                    try:
                        yield response
                    except httpx.HTTPError as exc:
                        raise InvalidInput(f"Invalid location: reading {current} failed: {exc}"
                                           ) from exc
                    return
                finally:
                    await response.aclose()
            raise InvalidInput(f"Invalid location: {url} redirected more than "
                               f"{MAX_REDIRECTS} times")
