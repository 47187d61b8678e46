"""The token bucket behind `glint audit --rate`, on a clock the test moves."""

from __future__ import annotations

import asyncio
import time

import pytest

from glint.jobs.throttle import TokenBucket, throttled


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_passes_then_the_debt_is_waited() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, burst=100, clock=clock)
    assert bucket.debt_after(100) == 0
    assert bucket.debt_after(500) == pytest.approx(0.5)
    # Paying the debt (0.5 s) and 0.1 s more refills 100 tokens, the most it holds.
    clock.now += 0.6
    assert bucket.debt_after(100) == pytest.approx(0)
    clock.now += 10
    assert bucket.debt_after(150) == pytest.approx(0.05)


def test_the_bucket_holds_no_more_than_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, burst=100, clock=clock)
    clock.now += 3600
    assert bucket.debt_after(1100) == pytest.approx(1.0)


def test_over_a_span_the_bytes_stay_within_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10_000, clock=clock)
    taken = 0
    start = clock.now
    for _ in range(1000):
        clock.now += bucket.debt_after(64)
        taken += 64
    # (One byte of slack for the float clock.)
    assert taken <= 10_000 * (clock.now - start) + bucket.burst + 1


def test_throttled_chunks_take_their_time() -> None:
    async def source() -> object:
        for _ in range(5):
            yield b"x" * 1000

    async def read() -> tuple[int, float]:
        started = time.monotonic()
        total = sum([len(chunk) async for chunk in throttled(source(), TokenBucket(20_000))])
        return total, time.monotonic() - started

    total, elapsed = asyncio.run(read())
    # 5000 bytes at 20 000/s with a 2000-byte burst: at least 0.15 s.
    assert total == 5000 and elapsed >= 0.14


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)
