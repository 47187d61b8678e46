"""Reading http(s) locations that callers without the service role name.

Such URLs pass the `[import_filtering_opts]` rules (`glint.domain.import_filter`),
as web-download URIs do: scheme, host and port lists, no encoded numeric
hosts, no loopback, link-local, private or reserved addresses unless the host
is allowed. Redirects are followed by hand, at most MAX_REDIRECTS, and every
target is checked before it is requested, so a public URL cannot bounce the
request to an internal service; each connection goes to the addresses that
were checked (web-download's `PinnedBackend`), so DNS rebinding gains nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpcore
from starlette.concurrency import run_in_threadpool

from glint.domain.errors import InvalidInput
from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.services.web_download import DownloadFailed, final_response, header, resolve_host
from glint.stores.base import READ_CHUNK_SIZE


class LocationUnreadable(InvalidInput):
    """The data at a location cannot be read (the server failed, answered no 200,
    or the store could not open it)."""


@dataclass(frozen=True)
class CheckedFetcher:
    """HTTP requests to user-named URLs, every hop checked against the rules."""

    rules: ImportFilter = field(default_factory=ImportFilter)
    resolve: Resolver = resolve_host

    async def check(self, url: str) -> list[str]:
        """The addresses `url` may be fetched from; UriRefused (400) when it breaks the rules."""
        return await run_in_threadpool(check_uri, url, self.rules, self.resolve)

    async def size(self, url: str) -> int:
        """The Content-Length a HEAD of `url` answers; InvalidInput when there is none."""
        async with self._final("HEAD", url) as response:
            length = header(response, b"content-length") or ""
            if not length.isdigit():
                raise InvalidInput(f"Invalid location: {url} does not tell its size")
            return int(length)

    async def read(self, url: str) -> AsyncIterator[bytes]:
        """The body at `url`, in chunks of at most READ_CHUNK_SIZE bytes."""
        async with self._final("GET", url) as response:
            async for chunk in response.aiter_stream():
                for offset in range(0, len(chunk), READ_CHUNK_SIZE):
                    yield chunk[offset:offset + READ_CHUNK_SIZE]

    @asynccontextmanager
    async def _final(self, method: str, url: str) -> AsyncIterator[httpcore.Response]:
        """The response after checked redirects; LocationUnreadable unless it is a 200,
        UriRefused when a redirect leads where the rules forbid."""
        try:
            async with final_response(url, self.rules, self.resolve, {},
                                      method=method) as response:
                yield response
        except DownloadFailed as exc:
            raise LocationUnreadable(f"Invalid location: {exc}") from exc
