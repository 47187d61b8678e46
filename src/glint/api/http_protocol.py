"""uvicorn's httptools protocol with limits on the request head, refused in
Glance's shape, and a lingering close.

llhttp (through httptools) bounds neither the request line nor the headers:
uvicorn keeps whatever arrives, a URL over 64 KiB then fails in
httptools.parse_url with uvicorn's plain-text 400, and a client still
sending when uvicorn closes sees its connection reset instead of an answer.

Here, as bytes arrive:
- the request target (path and query string) may take `max_url_bytes` (414),
- one header line `max_header_line` (431),
- the whole head `head_bytes` (431), so an oversized head is never held;
and the refusal, or any request llhttp cannot parse (400), is a Glance-shaped
error body (api/error_bodies, statuses from api/errors) with `Connection: close`.

Closing while the client is still sending (after such a refusal, or when the
application answers, e.g. 413, before a `Connection: close` request's body is
in) would make the kernel reset the connection and the client lose the answer.
So the connection lingers instead (RFC 9112 section 9.6): it half-closes and
reads and discards what comes, until the client closes or pauses for
LINGER_IDLE_SECONDS, at most LINGER_MAX_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from glint.api.error_bodies import error_body
from glint.api.errors import status_for
from glint.domain.errors import GlintError, HeadersTooLarge, InvalidInput, UrlTooLong

log = logging.getLogger("glint.access")

LINGER_IDLE_SECONDS = 2.0
LINGER_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class HeadLimits:
    """Byte limits on the request head (README "Limits")."""

    max_url_bytes: int = 8_192
    max_header_line: int = 16_384
    max_head_bytes: int = 65_536

    @property
    def head_bytes(self) -> int:
        """The whole head always fits one longest URL and one longest header line."""
        return max(self.max_head_bytes, self.max_url_bytes + self.max_header_line + 1024)


def limited_protocol(limits: HeadLimits) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...) for these limits."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._events = 0  # heads and messages completed on this connection
        self._head_bytes = 0
        self._header_bytes = 0
        self._refusal: GlintError | None = None
        self._lingering = False
        self._linger_started = self._last_data = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _LingeringClose(transport, self)))

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._last_data = self.loop.time()
            return  # discarded: the answer is out
        in_head, events = self._in_head, self._events
        super().data_received(data)
        if in_head and self._events == events and not self._lingering:
            # The chunk began in a head and nothing ended in it: all of it was head.
            # (After a message ends, the next head counts from the next chunk.)
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.head_bytes:
                self._refuse(self._refusal or self._head_too_large())

    @property
    def receiving_body(self) -> bool:
        """True between a request's head and the end of its body."""
        return not self._in_head and not self._lingering

    # httptools callbacks: an exception makes the parser fail, and uvicorn
    # then calls send_400_response, which answers with `_refusal`.
    def on_url(self, url: bytes) -> None:
        if self._refusal is not None:
            return
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            # Answered once the headers are in, in the form their Accept asks for.
            self._refusal = UrlTooLong(
                f"The URL is longer than {self.limits.max_url_bytes} bytes.",
                self.limits.max_url_bytes)

    def on_header(self, name: bytes, value: bytes) -> None:
        line = len(name) + len(value) + 2
        self._header_bytes += line + 2
        if line > self.limits.max_header_line:
            self._refusal = HeadersTooLarge(
                f"Header {name.decode('latin-1')[:64]} is longer than max_header_line "
                f"({self.limits.max_header_line} bytes).", self.limits.max_header_line)
            raise self._refusal
        if self._header_bytes > self.limits.head_bytes:
            self._refusal = self._head_too_large()
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        self._in_head = False
        self._events += 1
        self._head_bytes = self._header_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._events += 1
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(self._refusal or InvalidInput("The request is not valid HTTP/1.1."))

    def _head_too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(f"The request headers are larger than {self.limits.head_bytes} "
                               "bytes.", self.limits.head_bytes)

    def _refuse(self, exc: GlintError) -> None:
        status = status_for(exc)
        accept = dict(self.headers or []).get(b"accept")
        body = error_body(status, exc.message, accept.decode("latin-1") if accept else None)
        content = body.content.encode("utf-8")
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"content-type: {body.media_type}; charset=UTF-8\r\n"
                f"content-length: {len(content)}\r\nconnection: close\r\n\r\n")
        log.info("%s refused before routing: %d %s",
                 (self.client or ("-",))[0], status, exc.message)
        self.transport.write(head.encode("latin-1") + content)
        self.linger()

    def linger(self) -> None:
        """Half-close, then discard what the client still sends until it stops."""
        if self._lingering:
            return
        self._lingering = True
        if self.transport.is_closing():  # the client is gone already
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_started = self._last_data = self.loop.time()
        self._end_lingering()

    def _end_lingering(self) -> None:
        transport = cast(_LingeringClose, self.transport)
        if transport.is_closing():
            return
        now = self.loop.time()
        if (now - self._last_data >= LINGER_IDLE_SECONDS
                or now - self._linger_started >= LINGER_MAX_SECONDS):
            transport.close_now()
            return
        self.loop.call_later(0.5, self._end_lingering)


class _LingeringClose:
    """The connection's transport as uvicorn's code sees it: `close()` while a
    request body is still arriving lingers (see module docstring); everything
    else goes to the real transport."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.receiving_body:
            self._protocol.linger()
        else:
            self._transport.close()

    def close_now(self) -> None:
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
