"""web-download: fetch a URI into the staging area.

The URI and every redirect target pass the `[import_filtering_opts]` rules
(`glint.domain.import_filter`), redirects are followed by hand (at most
MAX_REDIRECTS) so each target is checked before it is fetched, and the body
is streamed to the staging file, never beyond image_size_cap.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urljoin

import httpx
from starlette.concurrency import run_in_threadpool

from glint.domain.import_filter import ImportFilter, Resolver, check_uri
from glint.services.staging import Staging
from glint.stores.hashing import ImageTooLarge

MAX_REDIRECTS = 5


class DownloadFailed(Exception):
    """The URI could not be fetched; the message is recorded on the task."""


def resolve_host(host: str, port: int) -> Sequence[str]:
    """The addresses the system resolver gives for `host` (OSError if none)."""
    return [str(info[4][0])
            for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


async def fetch(uri: str, *, rules: ImportFilter, resolve: Resolver, staging: Staging,
                image_id: str, size_cap: int) -> None:
    """Fetch `uri` into the staging area, checking every redirect target.

    Raises UriRefused when a target breaks the rules, DownloadFailed for HTTP
    errors, too many redirects or an unreachable server, ImageTooLarge past the cap.
    """
    timeout = httpx.Timeout(60.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                 trust_env=False) as client:
        current = uri
        for _ in range(MAX_REDIRECTS + 1):
            await run_in_threadpool(check_uri, current, rules, resolve)
            try:
                async with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise DownloadFailed(f"{uri} answered {response.status_code}")
                    await staging.write(image_id, _capped(response.aiter_bytes(), size_cap))
                    return
            except httpx.HTTPError as exc:
                raise DownloadFailed(f"Downloading {uri} failed: {exc}") from exc
    raise DownloadFailed(f"{uri} redirected more than {MAX_REDIRECTS} times")


async def _capped(chunks: AsyncIterator[bytes], cap: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            raise ImageTooLarge(cap)
        yield chunk
