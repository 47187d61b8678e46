"""Storage and count quotas that hold under concurrency.

Every write of image data (upload, stage, import, copy) takes a reservation
before it reads a byte: a row of `quota_reservations` with the bytes it may
write, granted in one transaction that first locks the project's row of
`quota_locks`, then sums what the project's images hold and what its other
reservations hold. Two servers therefore never both grant the last bytes. A
write of declared size reserves all of it at once (too much: 413 before a
byte is read); one of unknown size reserves RESERVATION_STEP at a time (at
most half the room left, see glint.domain.quota.grant), and
`ingest` checks its running total against the grant in memory, asking for
more only when it passes it (too much: 413 at once, its data removed).

The reservation is removed in the transaction that records the data on the
image (`settle`), or when the write fails (`release`); crash recovery removes
those of a process that died (`drop_orphans`).

The limits are `[DEFAULT] user_storage_quota` (bytes) and, with
`use_keystone_limits`, Keystone's unified limits (glint.services.keystone_limits).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import quota_repositories as quota_repo
from glint.db.session import Database
from glint.domain import quota
from glint.domain.errors import QuotaExceeded
from glint.domain.quota import RESERVATION_STEP, Resource, Usage
from glint.services.clock import now

log = logging.getLogger(__name__)


class ReservationKind(StrEnum):
    UPLOAD = "upload"
    STAGE = quota_repo.STAGE_KIND
    IMPORT = "import"
    COPY = "copy"


class LimitSource(Protocol):
    """A project's unified limits (Keystone's, through oslo.limit)."""

    def limits(self, project: str) -> dict[Resource, int]: ...


@dataclass
class Reservation:
    """Bytes one write in flight holds; `granted` grows with `cover`."""

    quotas: Quotas
    token: str
    project: str
    image_id: str
    kind: ReservationKind
    granted: int
    limits: dict[Resource, int] = field(default_factory=dict)

    async def cover(self, size: int) -> None:
        """Make the reservation hold at least `size` bytes; QuotaExceeded if it cannot."""
        self.granted = await run_in_threadpool(self.quotas.grow, self, size)

    async def release(self) -> None:
        """Give the bytes back (the write failed); never raises: a reservation that
        could not be removed is removed later by `drop_stale`."""
        try:
            await run_in_threadpool(self.quotas.release, self)
        except Exception:
            log.exception("reservation %s of image %s not released yet; it will be",
                          self.token, self.image_id)

    def settle(self, session: Session) -> None:
        """Remove the reservation in the transaction that records the data."""
        quota_repo.drop_reservation(session, self.token)
        self.quotas.forget(self.token)


@dataclass
class Quotas:
    db: Database
    # This process's owner id (glint.db.ownership), recorded on its reservations.
    owner: str
    # `[DEFAULT] user_storage_quota` in bytes; 0: none.
    storage_limit: int = 0
    # Keystone's limits when `use_keystone_limits`; None: not used.
    unified: LimitSource | None = None
    # Projects known to have their quota_locks row.
    _lock_rows: set[str] = field(default_factory=set)
    # Tokens of the reservations this process's writes and tasks hold.
    _active: set[str] = field(default_factory=set)

    @property
    def enabled(self) -> bool:
        return self.storage_limit > 0 or self.unified is not None

    async def reserve(self, project: str | None, image_id: str, kind: ReservationKind,
                      declared: int | None) -> Reservation | None:
        """Reserve room for a write of `declared` bytes (None: unknown). None when no
        quota applies; QuotaExceeded (413) when it would pass a limit."""
        if not self.enabled or project is None:
            return None
        limits = await run_in_threadpool(self.prepare, project)
        reservation = Reservation(self, uuid.uuid4().hex, project, image_id, kind, 0, limits)
        reservation.granted = await run_in_threadpool(self._take, reservation, declared)
        return reservation

    def prepare(self, project: str) -> dict[Resource, int]:
        """Before a reservation's transaction: the project's unified limits, and its
        lock row made sure of."""
        self._ensure_lock_row(project)
        return self.unified.limits(project) if self.unified is not None else {}

    def pending(self, project: str, image_id: str,
                kind: ReservationKind = ReservationKind.IMPORT) -> Reservation:
        """A reservation prepared (limits read, lock row made sure of) and not yet
        taken, for `hold` or `check_added` in the caller's transaction."""
        return Reservation(self, uuid.uuid4().hex, project, image_id, kind, 0,
                           self.prepare(project))

    def check_added(self, session: Session, pending: Reservation, size: int) -> None:
        """In the transaction that adds `size` bytes to the image's usage at once (new
        locations of its data): lock the project and raise QuotaExceeded when they
        do not fit. Nothing is reserved: the transaction itself records the bytes."""
        if size <= 0:
            return
        quota_repo.lock_project(session, pending.project)
        self._allowed(pending, self.usage(session, pending.project), held=0, needed=size,
                      wanted=size)

    def _take(self, reservation: Reservation, declared: int | None) -> int:
        with self.db.writing() as session:
            return self.hold(session, reservation, declared)

    def hold(self, session: Session, reservation: Reservation, declared: int | None) -> int:
        """In the caller's transaction (after `prepare`): lock the project, check
        its usage and record the reservation; returns the bytes granted."""
        needed = declared or 0
        wanted = declared if declared is not None else RESERVATION_STEP
        project = reservation.project
        quota_repo.lock_project(session, project)
        usage = self.usage(session, project)
        if Resource.IMAGE_COUNT_UPLOADING in reservation.limits:
            quota.check_count(Resource.IMAGE_COUNT_UPLOADING, project=project,
                              limit=reservation.limits[Resource.IMAGE_COUNT_UPLOADING],
                              used=usage.receiving)
        granted = self._allowed(reservation, usage, held=0, needed=needed, wanted=wanted)
        self._active.add(reservation.token)
        quota_repo.insert_reservation(
            session, token=reservation.token, project=project, image_id=reservation.image_id,
            owner=self.owner, kind=reservation.kind, size=granted, when=now())
        return granted

    def grow(self, reservation: Reservation, size: int) -> int:
        """The reservation made to hold `size` bytes (and a step more if there is
        room); returns the new grant. QuotaExceeded when `size` does not fit."""
        with self.db.writing() as session:
            quota_repo.lock_project(session, reservation.project)
            usage = self.usage(session, reservation.project)
            granted = self._allowed(reservation, usage, held=reservation.granted, needed=size,
                                    wanted=size + RESERVATION_STEP)
            if not quota_repo.resize_reservation(session, reservation.token, granted):
                raise QuotaExceeded(f"The reservation of image {reservation.image_id} was "
                                    "released while its data was written")
        return granted

    def _allowed(self, reservation: Reservation, usage: Usage, *, held: int, needed: int,
                 wanted: int) -> int:
        """The bytes the reservation may hold under every limit that applies."""
        project, limits = reservation.project, reservation.limits
        granted = wanted
        if self.storage_limit > 0:
            granted = quota.grant(limit=self.storage_limit, used=usage.stored, held=held,
                                  needed=needed, wanted=granted)
        checks = [(Resource.IMAGE_SIZE_TOTAL, usage.stored)]
        if reservation.kind == ReservationKind.STAGE:
            checks.append((Resource.IMAGE_STAGE_TOTAL, usage.staged))
        for resource, used in checks:
            if resource in limits:
                quota.check_bytes(resource, project=project, limit_mib=limits[resource],
                                  used=used, held=held, needed=needed)
                room = limits[resource] * quota.MIB - (used - held)
                granted = min(granted, needed + (room - needed) // 2)
        return granted

    def release(self, reservation: Reservation) -> None:
        self.release_token(reservation.token)

    def release_token(self, token: str) -> None:
        """Give back the reservation `token` (a failed write, or task)."""
        with self.db.writing() as session:
            quota_repo.drop_reservation(session, token)
        self.forget(token)

    def forget(self, token: str) -> None:
        """The reservation is gone: `drop_stale` may no longer keep it."""
        self._active.discard(token)

    def drop_stale(self, older_than: datetime) -> int:
        """Remove this process's reservations made before `older_than` that no write
        of it holds any more (their release failed, the database being away)."""
        with self.db.writing() as session:
            return quota_repo.drop_stale_reservations(session, self.owner, older_than,
                                                      set(self._active))

    @staticmethod
    def task_token(task_id: str) -> str:
        """The token of the reservation a task (copy-image) holds."""
        return uuid.UUID(task_id).hex

    def _ensure_lock_row(self, project: str) -> None:
        """Make sure the project has its lock row (rows are never removed, so a
        project seen once costs no query again)."""
        if project in self._lock_rows:
            return
        with self.db.writing() as session:
            quota_repo.ensure_lock_row(session, project)
        self._lock_rows.add(project)

    @staticmethod
    def usage(session: Session, project: str) -> Usage:
        """The project's usage, its reservations included."""
        return quota_repo.usage(session, project)

    def image_count_limit(self, project: str | None) -> int | None:
        """The project's image_count_total (None: no unified limits); read before
        the creating transaction, which passes it to `check_new_image`."""
        if self.unified is None or project is None:
            return None
        self._ensure_lock_row(project)
        return self.unified.limits(project).get(Resource.IMAGE_COUNT_TOTAL)

    @staticmethod
    def check_new_image(session: Session, project: str, limit: int) -> None:
        """In the creating transaction: LimitExceeded (413) when one more image
        would pass image_count_total. Locks the project, so parallel creations
        are counted one after the other."""
        quota_repo.lock_project(session, project)
        quota.check_count(Resource.IMAGE_COUNT_TOTAL, project=project, limit=limit,
                          used=quota_repo.image_count(session, project))

    def usage_document(self, project: str | None) -> dict[str, dict[str, int]]:
        """GET /v2/info/usage's `usage`: each unified limit with the project's
        usage (sizes in MiB), as Glance; empty without unified limits."""
        if self.unified is None or project is None:
            return {}
        limits = self.unified.limits(project)
        with self.db.reading() as session:
            usage = quota_repo.usage(session, project)
        used = {Resource.IMAGE_SIZE_TOTAL: usage.stored // quota.MIB,
                Resource.IMAGE_STAGE_TOTAL: usage.staged // quota.MIB,
                Resource.IMAGE_COUNT_TOTAL: usage.images,
                Resource.IMAGE_COUNT_UPLOADING: usage.receiving}
        return {str(name): {"limit": limit, "usage": used[name]}
                for name, limit in limits.items()}

    def drop_orphans(self, dead_owners: Collection[str]) -> int:
        """Release the reservations of processes that died (crash recovery)."""
        if not dead_owners:
            return 0
        with self.db.writing() as session:
            return quota_repo.drop_reservations_of(session, dead_owners)

    def owners(self) -> set[str]:
        """The owners holding reservations now."""
        with self.db.reading() as session:
            return quota_repo.reservation_owners(session)
