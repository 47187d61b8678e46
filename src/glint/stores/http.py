"""The http store: read-only image data at an HTTP or HTTPS URL (glance_store's `http`).

Ranges are passed to the server; a server that ignores them (200 with the
whole body) still gives the right bytes, as the unwanted ones are skipped.
Redirects are followed, at most MAX_REDIRECTS of them, as glance_store does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlparse

import httpx

from glint.domain.image import Location
from glint.stores.base import READ_CHUNK_SIZE, DataNotFound, StoreError, StoreUnreachable
from glint.stores.options import BackendConfig, OptionError

MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class HttpStore:
    """Reads image data from web servers; takes none."""

    def __init__(self, name: str, *, verify: bool | str = True,
                 proxies: dict[str, str] | None = None) -> None:
        self.name = name
        mounts = {f"{scheme}://": httpx.AsyncHTTPTransport(proxy=proxy, verify=verify)
                  for scheme, proxy in (proxies or {}).items()}
        self._client = httpx.AsyncClient(
            follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=TIMEOUT,
            verify=verify, mounts=mounts or None,
        )

    @classmethod
    def from_config(cls, config: BackendConfig) -> HttpStore:
        """https_insecure (default true, as in glance_store), https_ca_certificates_file,
        http_proxy_information (`http:URL,https:URL`). Raises OptionError."""
        verify: bool | str = not config.boolean("https_insecure", True)
        ca_file = config.text("https_ca_certificates_file")
        if ca_file is not None:
            verify = ca_file
        proxies: dict[str, str] = {}
        for item in config.listing("http_proxy_information", pairs=True):
            scheme, sep, proxy = item.partition(":")
            if not sep or scheme not in ("http", "https") or not proxy:
                raise OptionError(config.section, "http_proxy_information",
                                  f"expected http:URL or https:URL, got {item!r}")
            proxies[scheme] = proxy
        return cls(config.name, verify=verify, proxies=proxies)

    def accepts(self, url: str) -> bool:
        return urlparse(url).scheme in ("http", "https")

    def properties(self) -> dict[str, object]:
        return {}

    async def aclose(self) -> None:
        await self._client.aclose()

    def _check(self, location: Location) -> None:
        if not self.accepts(location.url):
            raise DataNotFound(self.name, f"location {location.url!r} is not an http(s) URL")

    def _raise_for(self, response: httpx.Response, url: str) -> None:
        if response.status_code == 404 or response.status_code == 410:
            raise DataNotFound(self.name, f"no data at {url} ({response.status_code})")
        if response.status_code >= 500:
            raise StoreUnreachable(self.name, f"{url} answered {response.status_code}")
        if response.status_code >= 400:
            raise StoreError(self.name, f"{url} answered {response.status_code}")

    async def size(self, location: Location) -> int:
        self._check(location)
        try:
            response = await self._client.head(location.url)
        except httpx.TooManyRedirects as exc:
            raise StoreError(self.name, f"too many redirects from {location.url}") from exc
        except httpx.HTTPError as exc:
            raise StoreUnreachable(self.name, f"cannot reach {location.url}: {exc}") from exc
        self._raise_for(response, location.url)
        length = response.headers.get("content-length")
        if length is None or not length.isdigit():
            raise StoreError(self.name, f"{location.url} does not tell its size")
        return int(length)

    async def read(
        self, location: Location, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self._check(location)
        headers = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            headers["Range"] = f"bytes={start}-{end}"
        if length == 0:
            return
        try:
            async with self._client.stream("GET", location.url, headers=headers) as response:
                self._raise_for(response, location.url)
                # 200 means the server ignored the range: skip what was not asked for.
                skip = start if response.status_code == 200 else 0
                remaining = length
                async for chunk in response.aiter_bytes():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if remaining is not None:
                        chunk = chunk[:remaining]
                        remaining -= len(chunk)
                    for offset in range(0, len(chunk), READ_CHUNK_SIZE):
                        yield chunk[offset:offset + READ_CHUNK_SIZE]
                    if remaining == 0:
                        return
        except httpx.TooManyRedirects as exc:
            raise StoreError(self.name, f"too many redirects from {location.url}") from exc
        except httpx.HTTPError as exc:
            raise StoreUnreachable(self.name, f"cannot read {location.url}: {exc}") from exc
