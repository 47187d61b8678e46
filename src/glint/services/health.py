"""The checks behind /healthcheck: oslo.middleware's disable-by-file, the
database and the default store.

Each check gives a result as oslo.middleware's healthcheck backends do: a
reason ("OK" when available) and details for the detailed view. A probe that
does not answer within `timeout` counts as unavailable; it goes on in the
background, and callers arriving meanwhile wait for that same probe rather
than start another, so a load balancer polling a frozen database does not
pile up connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.engine import URL
from starlette.concurrency import run_in_threadpool

from glint.db.session import Database
from glint.domain.errors import DatabaseUnavailable
from glint.settings import HealthcheckSettings
from glint.stores.base import CheckedStore, StoreError
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

OK = "OK"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; `kind` is the check's name as the detailed view shows it."""

    kind: str
    available: bool
    reason: str
    details: str


class _SharedProbe:
    """One probe at a time; callers arriving while it runs share its outcome."""

    def __init__(self, start: Callable[[], Awaitable[None]]) -> None:
        self._start = start
        self._running: asyncio.Future[None] | None = None

    async def __call__(self, timeout: float) -> None:
        """Raise what the probe raised, or TimeoutError after `timeout` seconds."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._start())
            # Retrieve the outcome even if every caller stopped waiting for it.
            self._running.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.wait_for(asyncio.shield(self._running), timeout)


class HealthChecks:
    """Runs every check; healthy when each is available."""

    def __init__(self, settings: HealthcheckSettings, db: Database, stores: StoreRegistry,
                 timeout: float) -> None:
        self.settings = settings
        self.db = db
        self.stores = stores
        self.timeout = timeout
        self._database_probe = _SharedProbe(lambda: run_in_threadpool(db.check))
        self._store_probe = _SharedProbe(self._check_default_store)

    async def run(self) -> list[CheckResult]:
        results = [] if self.settings.disable_by_file_path is None else [self.disable_by_file()]
        results.extend(await asyncio.gather(self.database(), self.default_store()))
        return results

    def disable_by_file(self) -> CheckResult:
        path = self.settings.disable_by_file_path
        if path is not None and path.exists():
            return CheckResult("DisableByFileHealthcheck", False, "DISABLED BY FILE",
                               f"Path '{path}' was found")
        return CheckResult("DisableByFileHealthcheck", True, OK, f"Path '{path}' was not found")

    async def database(self) -> CheckResult:
        where = _describe(self.db.engine.url)
        try:
            await self._database_probe(self.timeout)
        except DatabaseUnavailable as exc:
            return self._unavailable("DatabaseHealthcheck", "DATABASE UNAVAILABLE",
                                     f"{where}: {exc.reason}")
        except TimeoutError:
            return self._unavailable("DatabaseHealthcheck", "DATABASE UNAVAILABLE",
                                     f"{where}: no answer within {self.timeout:g} s")
        except Exception as exc:
            log.exception("healthcheck: the database probe failed")
            return self._unavailable("DatabaseHealthcheck", "DATABASE UNAVAILABLE",
                                     f"{where}: {type(exc).__name__}")
        return CheckResult("DatabaseHealthcheck", True, OK, f"{where} answered")

    async def default_store(self) -> CheckResult:
        store = self.stores.default
        try:
            await self._store_probe(self.timeout)
        except StoreError as exc:
            return self._unavailable("StoreHealthcheck", "STORE UNAVAILABLE",
                                     f"store {store!r}: {exc.message}")
        except TimeoutError:
            return self._unavailable("StoreHealthcheck", "STORE UNAVAILABLE",
                                     f"store {store!r}: no answer within {self.timeout:g} s")
        except Exception as exc:
            log.exception("healthcheck: the check of store %s failed", store)
            return self._unavailable("StoreHealthcheck", "STORE UNAVAILABLE",
                                     f"store {store!r}: {type(exc).__name__}")
        return CheckResult("StoreHealthcheck", True, OK, f"store {store!r} is usable")

    async def _check_default_store(self) -> None:
        store = self.stores.default_store()
        if isinstance(store, CheckedStore):
            await store.check()

    def _unavailable(self, kind: str, reason: str, details: str) -> CheckResult:
        log.warning("healthcheck: %s (%s)", reason.lower(), details)
        return CheckResult(kind, False, reason, details)


def _describe(url: URL) -> str:
    """The database without its credentials."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite database {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} database {url.database} at {url.host}{port}"
