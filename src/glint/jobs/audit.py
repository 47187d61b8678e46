"""The integrity auditor: re-reads the stored copies of active images and
compares each with the image's record (size, checksum, os_hash_value).

Images go in id order, a page at a time, and each copy is read through its
store's driver (every store type), hashed as the upload path hashes
(stores/hashing.py), and held to the rate given by a token bucket. The
verdicts of an image's copies are recorded (image_copy_checks) together with
the pass's marker (audit_cursors), so a pass that is stopped resumes after the
last image it recorded; a pass that ends removes its marker. A copy that does
not match, or cannot be read, is logged; downloads skip it while another copy
is not bad (glint.domain.copy_checks.servable), and it is cleared when it
checks good again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from glint.db import audit_repositories as audit_repo
from glint.db.audit_repositories import AuditTarget, CopyCheck
from glint.db.session import Database
from glint.domain.copy_checks import Verdict, differences
from glint.domain.image import Location
from glint.jobs.reap import shown
from glint.jobs.throttle import TokenBucket, throttled
from glint.services.clock import now
from glint.stores.base import Store, StoreError
from glint.stores.hashing import HashingStream, ImageTooLarge
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

R = TypeVar("R")
PAGE = 100
# The hash used to read a copy whose record has no (or an unknown) os_hash_algo.
FALLBACK_ALGORITHM = "sha512"
NO_SIZE_LIMIT = 2**63 - 1


@dataclass
class AuditReport:
    """What one pass (or the part of it this run did) found."""

    checked: int = 0
    bytes: int = 0
    mismatches: int = 0
    unreadable: int = 0
    images: int = 0
    # Copies in no store configured here: left unjudged (another node may read them).
    skipped: int = 0
    # The image after which this run went on with a pass an earlier run left unfinished.
    resumed_after: str | None = None
    seconds: float = 0.0
    bad: list[CopyCheck] = field(default_factory=list)

    def summary(self) -> str:
        resumed = f" (resumed after image {self.resumed_after})" if self.resumed_after else ""
        return (f"{self.checked} copy(ies) of {self.images} image(s) checked{resumed}, "
                f"{self.bytes} bytes read in {self.seconds:.1f} s; {self.mismatches} "
                f"mismatch(es), {self.unreadable} unreadable, {self.skipped} skipped (in no "
                "store configured here)")

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked, "bytes": self.bytes, "mismatches": self.mismatches,
            "unreadable": self.unreadable, "images": self.images, "skipped": self.skipped,
            "resumed_after": self.resumed_after, "seconds": round(self.seconds, 3),
            "bad": [check_json(check) for check in self.bad],
        }


def check_json(check: CopyCheck) -> dict[str, Any]:
    """A verdict as `--json` and `--report --json` print it (the URL without credentials)."""
    return {"image_id": check.image_id, "store": check.store, "url": shown(check.url),
            "verdict": str(check.verdict), "differences": check.differences,
            "checked_at": check.checked_at.isoformat()}


def scope_of(store: str | None) -> str:
    """The resume marker's key: one per store asked for, one for all stores."""
    return "all" if store is None else f"store:{store}"


@dataclass
class Auditor:
    db: Database
    stores: StoreRegistry
    # Bytes per second; None reads as fast as the stores give.
    rate: float | None = None

    async def run_once(self, *, image_id: str | None = None,
                       store: str | None = None) -> AuditReport:
        """Check every copy of the active images (only `image_id`, and only the
        copies in `store`, when given), going on from where an unfinished pass of
        the same scope stopped. Store failures are verdicts, not errors; raises
        DatabaseUnavailable when the database is."""
        report = AuditReport()
        started = time.monotonic()
        bucket = TokenBucket(self.rate) if self.rate else None
        # One image is checked at once and needs no marker.
        scope = None if image_id is not None else scope_of(store)
        after = None if scope is None else await self._read(audit_repo.cursor, scope)
        report.resumed_after = after
        while True:
            page = await self._read(audit_repo.active_images, after=after, store=store,
                                    image_id=image_id, limit=PAGE)
            for target in page:
                checks = []
                for location in target.locations:
                    reader = self._store(location, report)
                    if reader is not None:
                        checks.append(await self._check(target, location, reader, bucket,
                                                        report))
                await self._write(_record_image, target.image_id, checks, scope)
                report.images += 1
                after = target.image_id
            if len(page) < PAGE:
                break
        if scope is not None:
            await self._write(audit_repo.finish, scope)
        report.seconds = time.monotonic() - started
        log.info("audit: %s", report.summary())
        return report

    def _store(self, location: Location, report: AuditReport) -> Store | None:
        """The store that reads the copy; None (counted as skipped) when none here
        does: a copy is never judged bad for a store this node does not have."""
        store = (self.stores.stores.get(location.store)
                 or self.stores.store_for_url(location.url))
        if store is None:
            report.skipped += 1
            log.warning("audit: copy %s of store %s is in no store configured here; skipped",
                        shown(location.url), location.store)
        return store

    async def _check(self, target: AuditTarget, location: Location, store: Store,
                     bucket: TokenBucket | None, report: AuditReport) -> CopyCheck:
        expected = target.expected
        algorithm = expected.os_hash_algo
        if algorithm not in hashlib.algorithms_available:
            algorithm = FALLBACK_ALGORITHM
        # One byte past the recorded size is enough to know a copy is too long.
        cap = NO_SIZE_LIMIT if expected.size is None else expected.size
        stream: HashingStream | None = None
        try:
            chunks = store.read(location)
            try:
                stream = HashingStream(throttled(chunks, bucket), algorithm=algorithm,
                                       size_cap=cap)
                async for _ in stream.blocks():
                    pass
            finally:
                # A copy left half-read (too long, or failing) releases its reader now.
                closer = getattr(chunks, "aclose", None)
                if closer is not None:
                    await closer()
            found = differences(expected, stream.digests())
            verdict = Verdict.MISMATCH if found else Verdict.GOOD
        except ImageTooLarge:
            verdict, found = Verdict.MISMATCH, [f"size: expected {expected.size}, found more"]
        except StoreError as exc:
            verdict, found = Verdict.UNREADABLE, [f"store {exc.store}: {exc.message}"]
        report.bytes += stream.size if stream is not None else 0
        report.checked += 1
        check = CopyCheck(image_id=target.image_id, url=location.url, store=location.store,
                          verdict=verdict, differences=found, checked_at=now())
        if verdict != Verdict.GOOD:
            report.bad.append(check)
            if verdict == Verdict.MISMATCH:
                report.mismatches += 1
            else:
                report.unreadable += 1
            log.warning("audit: image %s, copy %s in store %s is %s: %s", target.image_id,
                        shown(location.url), location.store, verdict, "; ".join(found))
        return check

    async def _read(self, query: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        def run() -> R:
            with self.db.reading() as session:
                return query(session, *args, **kwargs)
        return await asyncio.to_thread(run)

    async def _write(self, change: Callable[..., R], *args: Any) -> R:
        def run() -> R:
            with self.db.writing() as session:
                return change(session, *args)
        return await asyncio.to_thread(run)


def _record_image(session: Session, image_id: str, checks: list[CopyCheck],
                  scope: str | None) -> None:
    """The verdicts on an image's copies and the pass's marker past it, at once."""
    audit_repo.record(session, checks)
    audit_repo.forget_gone(session, image_id)
    if scope is not None:
        audit_repo.advance(session, scope, image_id, now())
