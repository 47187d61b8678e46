"""Time out image data bodies (PUT /file, PUT /stage) that stall or trickle.

A client that stops sending, or sends a few bytes now and then (slowloris),
would hold its image in saving (uploading) for as long as it likes. `paced`
wraps the body: a read that brings no byte for `client_socket_timeout`
seconds, or a body arriving slower than `upload_minimum_rate` bytes/s over
`upload_minimum_rate_window` seconds, ends the body with BodyTooSlow (408);
the upload then fails like any other and the image is queued again.

Only time spent waiting for the client counts toward the rate: while a
slow store holds the data back, the client is not to blame. The upload
path stays cheap: per chunk two clock reads and a few assignments; a timer
per body checks the limits every TICK seconds and, when one is passed,
cancels the read in progress (as asyncio.timeout would, without its cost
per chunk).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass

from glint.domain.errors import BodyTooSlow
from glint.settings import ServerSettings

TICK = 1.0


@dataclass(frozen=True)
class BodyLimits:
    # Seconds a read may bring no byte (None: no limit).
    idle_timeout: float | None = None
    # Bytes per second the body must average over `window` seconds (0: no minimum).
    minimum_rate: int = 0
    window: float = 60.0

    @property
    def tick(self) -> float:
        """How often the limits are checked: often enough to act on time."""
        return max(0.05, min(TICK, (self.idle_timeout or TICK) / 4, self.window / 4))


def limits_of(server: ServerSettings) -> BodyLimits:
    """The limits `[DEFAULT]` sets (0 turns each off)."""
    return BodyLimits(idle_timeout=server.client_socket_timeout or None,
                      minimum_rate=server.upload_minimum_rate,
                      window=float(server.upload_minimum_rate_window))


async def paced(chunks: AsyncIterator[bytes], limits: BodyLimits) -> AsyncIterator[bytes]:
    """Yield `chunks` unchanged; raise BodyTooSlow when the client passes a limit."""
    if limits.idle_timeout is None and not limits.minimum_rate:
        async for chunk in chunks:
            yield chunk
        return
    loop = asyncio.get_running_loop()
    watch = _Watch(limits, loop)
    following = aiter(chunks).__anext__
    try:
        while True:
            watch.raise_if_expired()
            watch.task = asyncio.current_task()
            watch.read_started = started = loop.time()
            try:
                chunk = await following()
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                watch.read_started = None
                if watch.cancelled and watch.task is not None and watch.task.uncancel() == 0:
                    watch.raise_if_expired()
                raise
            watch.read_started = None
            watch.waited += loop.time() - started
            watch.received += len(chunk)
            yield chunk
    finally:
        watch.stop()


class _Watch:
    """The clock of one body: time spent waiting for the client and bytes received."""

    def __init__(self, limits: BodyLimits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        self.received = 0
        self.waited = 0.0
        # While a read waits for the client: when it began, and the task waiting.
        self.read_started: float | None = None
        self.task: asyncio.Task[object] | None = None
        self.reason: str | None = None
        self.cancelled = False
        # (waited, received) at each tick, as far back as the window reaches.
        self.samples: collections.deque[tuple[float, int]] = collections.deque([(0.0, 0)])
        self.handle = loop.call_later(limits.tick, self.check)

    def raise_if_expired(self) -> None:
        if self.reason is not None:
            raise BodyTooSlow(self.reason)

    def check(self) -> None:
        """Every tick: compare the body with the limits; expire the read on a breach."""
        now = self.loop.time()
        reading = self.read_started is not None
        waited = self.waited + (now - self.read_started if self.read_started is not None else 0)
        limits = self.limits
        if reading and limits.idle_timeout is not None \
                and now - (self.read_started or now) >= limits.idle_timeout:
            self.reason = (f"No image data was received for {limits.idle_timeout:g} seconds "
                           "(client_socket_timeout)")
        self.samples.append((waited, self.received))
        while len(self.samples) > 2 and waited - self.samples[1][0] >= limits.window:
            self.samples.popleft()
        since, before = self.samples[0]
        span = waited - since
        if limits.minimum_rate and span >= limits.window \
                and self.received - before < limits.minimum_rate * span:
            rate = (self.received - before) / span
            self.reason = (f"Image data arrived at {rate:.0f} bytes/s over {span:.0f} seconds, "
                           f"below the minimum of {limits.minimum_rate} bytes/s "
                           "(upload_minimum_rate)")
        if self.reason is not None:
            if reading and self.task is not None:
                # The task waits in the read right now (this runs between its steps), so
                # the cancellation lands there and `paced` turns it into BodyTooSlow.
                self.cancelled = True
                self.task.cancel()
            return
        self.handle = self.loop.call_later(limits.tick, self.check)

    def stop(self) -> None:
        self.handle.cancel()
