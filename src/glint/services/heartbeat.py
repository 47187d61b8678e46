"""The heartbeat of long work (an upload, a stage, an import task): the work's
database record is touched on an interval so that other processes know its
owner lives; the beat ends when the record says the work is no longer ours."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from glint.domain.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


async def beat_while_ours(touch: Callable[[], bool], every: timedelta, what: str) -> None:
    """Call `touch` (blocking; True while the work is still ours) every `every`;
    return once it answers False. A database away for a beat is logged and the
    beat goes on (the record is only stale until it comes back)."""
    while True:
        await asyncio.sleep(every.total_seconds())
        try:
            ours = await run_in_threadpool(touch)
        except DatabaseUnavailable as exc:
            log.warning("%s: heartbeat not saved, the database is unavailable (%s)",
                        what, exc.reason)
            continue
        if not ours:
            return
