"""The shared heartbeat: beats while the work is ours, rides out a database
that is away for a beat, ends when the work was taken over."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from glint.domain.errors import DatabaseUnavailable
from glint.services.heartbeat import beat_while_ours


def test_beats_until_the_work_is_no_longer_ours(caplog: pytest.LogCaptureFixture) -> None:
    answers: list[bool | Exception] = [True, DatabaseUnavailable("connection refused"),
                                       True, False, True]
    calls = 0

    def touch() -> bool:
        nonlocal calls
        answer = answers[calls]
        calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    with caplog.at_level(logging.WARNING):
        asyncio.run(asyncio.wait_for(
            beat_while_ours(touch, timedelta(milliseconds=1), "upload of image X"), 5))
    assert calls == 4
    assert "upload of image X: heartbeat not saved" in caplog.text
    assert "connection refused" in caplog.text


def test_nothing_is_touched_before_the_first_interval() -> None:
    touched: list[bool] = []

    def touch() -> bool:
        touched.append(True)
        return True

    async def beat_for(seconds: float) -> None:
        task = asyncio.create_task(beat_while_ours(touch, timedelta(seconds=10), "x"))
        await asyncio.sleep(seconds)
        task.cancel()

    asyncio.run(beat_for(0.2))
    assert touched == []
