"""Image data sent from a local file by the kernel (sendfile(2)) instead of
being read into the worker and written out again.

`DataResponse` sends a local file's bytes with ASGI's zero-copy send
extension (`http.response.zerocopysend`) when the server offers it, and
streams them in chunks otherwise. uvicorn does not offer it: `ZeroCopySend`,
wrapped around the application by the server worker, adds it for uvicorn's
httptools HTTP/1.1 connections on plain TCP (no TLS), and falls back to
nothing (chunks) for anything else. A download then costs the worker no
copies, no buffers and almost no CPU, which is what a boot storm (many
clients fetching the same image at once) needs on a machine that also runs
the clients' own copies.

It works with uvicorn's own bookkeeping of the response (the cycle behind
its `send`): the headers go out through `send`, the body through sendfile on
the connection's socket, and `send` then closes the response as usual.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from glint.api.sendfile import SpanSender, send_in_thread
from glint.services.stores import OutgoingData

ZEROCOPY = "http.response.zerocopysend"


class DataResponse(StreamingResponse):
    """Image data: from the file by the server when it can, in chunks otherwise.
    The data is released (file closed, reader stopped) when the response ends,
    and `finished` is told how many bytes went out (a zero-copy send counts
    its whole span once the server has taken it)."""

    def __init__(self, data: OutgoingData, status_code: int, headers: dict[str, str],
                 finished: Callable[[int], None] | None = None) -> None:
        super().__init__(self._counted(data.chunks), status_code=status_code, headers=headers)
        self.data = data
        self.zero_copy = False
        self.sent = 0
        self._finished = finished

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        # Counted as handed over: a client that got the last chunk may leave
        # (and end the response) before this generator is resumed.
        async for chunk in chunks:
            self.sent += len(chunk)
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.zero_copy = self.data.span is not None and ZEROCOPY in scope.get("extensions", {})
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.data.aclose()
            if self._finished is not None:
                self._finished(self.sent)

    async def stream_response(self, send: Send) -> None:
        span = self.data.span
        if not self.zero_copy or span is None:
            await super().stream_response(send)
            return
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        # The server sends the whole span, or stops quietly for a client that
        # left; counted first, as a client that got everything may leave (and
        # cancel this) before the send returns. A failed send sent nothing usable.
        self.sent = span.length
        try:
            await send({"type": ZEROCOPY, "file": span.file, "offset": span.offset,
                        "count": span.length, "more_body": False})
        except Exception:
            self.sent = 0
            raise


class ZeroCopySend:
    """Offers `http.response.zerocopysend` on uvicorn's httptools connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cycle = _uvicorn_cycle(scope, send)
        if cycle is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("extensions", {})[ZEROCOPY] = {}

        async def send_or_sendfile(message: Message) -> None:
            if message["type"] != ZEROCOPY:
                await send(message)
                return
            await _sendfile(cycle, message)
            await send({"type": "http.response.body", "body": b"",
                        "more_body": message.get("more_body", False)})

        await self.app(scope, receive, send_or_sendfile)


def _uvicorn_cycle(scope: Scope, send: Send) -> Any | None:
    """uvicorn's request-response cycle behind `send`, if it is one that sendfile suits."""
    if scope["type"] != "http" or scope.get("http_version") not in ("1.0", "1.1"):
        return None
    try:
        from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
    except ImportError:  # pragma: no cover - uvicorn without httptools
        return None
    cycle = getattr(send, "__self__", None)
    if not isinstance(cycle, RequestResponseCycle):
        return None
    transport = cycle.transport
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(cycle, "expected_content_length"):
        return None
    return cycle


async def _sendfile(cycle: Any, message: Message) -> None:
    """Send `count` bytes of `file` from `offset` on the cycle's connection.

    Raises RuntimeError (after closing the connection) when the file ends
    before `count` bytes: the Content-Length already promised them. A client
    that goes away ends the sending quietly, as it ends a chunked response.
    """
    count, offset = int(message["count"]), int(message.get("offset", 0))
    if cycle.disconnected:
        return
    if cycle.chunked_encoding or count > cycle.expected_content_length:
        raise RuntimeError("zero-copy send needs a Content-Length covering the file's bytes")
    transport = cycle.transport
    while transport.get_write_buffer_size() and not cycle.disconnected:
        await asyncio.sleep(0.001)  # the headers are still on their way
    # A descriptor of our own (the loop already watches the transport's), which
    # the sending thread closes when it ends.
    out = os.dup(transport.get_extra_info("socket").fileno())
    sent = await send_in_thread(SpanSender(out, message["file"].fileno(), offset, count))
    cycle.expected_content_length -= max(sent, 0)
    if sent == count:
        return
    transport.abort()
    await asyncio.sleep(0)  # lets uvicorn see the connection gone: `send` then does nothing
    if sent >= 0:
        raise RuntimeError(f"the file ended after {sent} of {count} bytes")


