"""A token bucket: holds a stream of bytes to a rate (the auditor's --rate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

# Bytes allowed at once after a pause, as a share of one second's worth: small,
# so the rate holds over short spans too.
BURST_SECONDS = 0.1


class TokenBucket:
    """Tokens (bytes) flow in at `rate` per second up to `burst`; taking more
    than there are waits until the debt is paid, so over any span the bytes
    taken are at most rate × span + burst."""

    def __init__(self, rate: float, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.burst = rate * BURST_SECONDS if burst is None else burst
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def debt_after(self, amount: int) -> float:
        """Take `amount` tokens now; the seconds to wait before going on (0 when
        the bucket held enough)."""
        moment = self._clock()
        self._tokens = min(self.burst, self._tokens + (moment - self._last) * self.rate)
        self._last = moment
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate)

    async def take(self, amount: int) -> None:
        wait = self.debt_after(amount)
        if wait > 0:
            await asyncio.sleep(wait)


async def throttled(chunks: AsyncIterator[bytes],
                    bucket: TokenBucket | None) -> AsyncIterator[bytes]:
    """The chunks, each let through once the bucket allows its bytes (all at
    once when `bucket` is None)."""
    async for chunk in chunks:
        if bucket is not None:
            await bucket.take(len(chunk))
        yield chunk
