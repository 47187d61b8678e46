"""Scheduling of jobs: one pass, or a pass every interval until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from glint.domain.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


async def every(seconds: float, name: str, run_once: Callable[[], Awaitable[object]]) -> None:
    """Run `run_once` now and then every `seconds` (from the start of one pass
    to the next), until cancelled. A pass that fails is logged and the next one
    runs on time: a job's passes are idempotent, so nothing is lost."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run_once()
        except DatabaseUnavailable as exc:
            log.warning("%s: pass skipped, the database is unavailable (%s)", name, exc.reason)
        except Exception:
            log.exception("%s: pass failed; the next one runs in %s s", name, seconds)
        await asyncio.sleep(max(0.0, started + seconds - loop.time()))
