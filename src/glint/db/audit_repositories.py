"""Reading and writing the integrity auditor's verdicts (image_copy_checks)
and its resume markers (audit_cursors).

A verdict is replaced (delete then insert, in the caller's transaction) each
time a copy is checked, so a copy that checks good again is cleared. The
verdicts of an image's copies and the pass's marker past that image are
written in one transaction: a pass killed at any moment resumes after the
last image it fully recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from glint.db.models import AuditCursorRow, ImageCopyCheckRow, ImageLocationRow, ImageRow
from glint.domain.copy_checks import Expected, Verdict
from glint.domain.image import ImageStatus, Location


@dataclass(frozen=True)
class AuditTarget:
    """An active image to check: what its record says, and its copies."""

    image_id: str
    expected: Expected
    locations: list[Location]


@dataclass(frozen=True)
class CopyCheck:
    """A verdict on one copy, as recorded."""

    image_id: str
    url: str
    store: str
    verdict: Verdict
    differences: list[str]
    checked_at: datetime


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def active_images(session: Session, *, after: str | None, store: str | None,
                  image_id: str | None, limit: int) -> list[AuditTarget]:
    """Up to `limit` active images with ids past `after`, in id order, with their
    locations (only those in `store` when given); only `image_id` when given."""
    statement = select(ImageRow).where(ImageRow.status == str(ImageStatus.ACTIVE),
                                       ImageRow.deleted.is_(False))
    if image_id is not None:
        statement = statement.where(ImageRow.id == image_id)
    if after is not None:
        statement = statement.where(ImageRow.id > after)
    if store is not None:
        statement = statement.where(ImageRow.id.in_(
            select(ImageLocationRow.image_id).where(ImageLocationRow.store == store)))
    rows = list(session.scalars(statement.order_by(ImageRow.id).limit(limit)))
    targets = {row.id: AuditTarget(
        image_id=row.id,
        expected=Expected(size=row.size, checksum=row.checksum,
                          os_hash_algo=row.os_hash_algo, os_hash_value=row.os_hash_value),
        locations=[],
    ) for row in rows}
    if not targets:
        return []
    locations = select(ImageLocationRow).where(ImageLocationRow.image_id.in_(list(targets)))
    if store is not None:
        locations = locations.where(ImageLocationRow.store == store)
    for location in session.scalars(
        locations.order_by(ImageLocationRow.image_id, ImageLocationRow.position,
                           ImageLocationRow.id)
    ):
        targets[location.image_id].locations.append(Location(
            url=location.url, store=location.store, metadata=json.loads(location.meta_data)))
    return list(targets.values())


def record(session: Session, checks: Sequence[CopyCheck]) -> None:
    """Put these verdicts in place of any earlier ones of the same copies."""
    for check in checks:
        digest = url_digest(check.url)
        session.execute(delete(ImageCopyCheckRow).where(
            ImageCopyCheckRow.image_id == check.image_id,
            ImageCopyCheckRow.url_digest == digest))
        session.execute(insert(ImageCopyCheckRow).values(
            image_id=check.image_id, url_digest=digest, url=check.url, store=check.store,
            verdict=str(check.verdict), differences=json.dumps(check.differences),
            checked_at=check.checked_at))


def forget_gone(session: Session, image_id: str) -> None:
    """Remove the verdicts of copies the image no longer has (read from its
    location rows)."""
    urls = session.scalars(select(ImageLocationRow.url)
                           .where(ImageLocationRow.image_id == image_id))
    forget_others(session, image_id, list(urls))


def forget_others(session: Session, image_id: str, urls: Sequence[str]) -> None:
    """Remove the verdicts of the image's copies other than those at `urls`: data
    put back later at a URL the image had is judged afresh, never by an old verdict."""
    session.execute(delete(ImageCopyCheckRow).where(
        ImageCopyCheckRow.image_id == image_id,
        ImageCopyCheckRow.url_digest.not_in([url_digest(url) for url in urls])))


def bad_copies(session: Session, image_id: str) -> dict[str, Verdict]:
    """URL -> verdict of the image's copies recorded bad (the download's check:
    one query on the key's first column, no row for a healthy image)."""
    rows = session.execute(
        select(ImageCopyCheckRow.url, ImageCopyCheckRow.verdict)
        .where(ImageCopyCheckRow.image_id == image_id,
               ImageCopyCheckRow.verdict != str(Verdict.GOOD))
    ).all()
    return {url: Verdict(verdict) for url, verdict in rows}


def bad_checks(session: Session, image_id: str | None = None) -> list[CopyCheck]:
    """Every copy of a live image (only of `image_id` when given) recorded bad,
    most recently checked first (`glint audit --report`, GET /v2/info/audit)."""
    statement = (
        select(ImageCopyCheckRow)
        .join(ImageRow, ImageRow.id == ImageCopyCheckRow.image_id)
        .where(ImageCopyCheckRow.verdict != str(Verdict.GOOD), ImageRow.deleted.is_(False))
    )
    if image_id is not None:
        statement = statement.where(ImageCopyCheckRow.image_id == image_id)
    rows = session.scalars(
        statement.order_by(ImageCopyCheckRow.checked_at.desc(), ImageCopyCheckRow.image_id))
    return [CopyCheck(image_id=row.image_id, url=row.url, store=row.store,
                      verdict=Verdict(row.verdict), differences=json.loads(row.differences),
                      checked_at=row.checked_at) for row in rows]


@dataclass(frozen=True)
class UnfinishedPass:
    """A pass that has not ended (still running, or stopped): where it stands."""

    scope: str
    last_image_id: str
    started_at: datetime
    updated_at: datetime


def unfinished_passes(session: Session) -> list[UnfinishedPass]:
    """The resume markers of every scope, oldest pass first."""
    rows = session.scalars(select(AuditCursorRow)
                           .order_by(AuditCursorRow.started_at, AuditCursorRow.scope))
    return [UnfinishedPass(scope=row.scope, last_image_id=row.last_image_id,
                           started_at=row.started_at, updated_at=row.updated_at) for row in rows]


def cursor(session: Session, scope: str) -> str | None:
    """The last image an unfinished pass of this scope fully checked, if any."""
    return session.scalar(select(AuditCursorRow.last_image_id)
                          .where(AuditCursorRow.scope == scope))


def advance(session: Session, scope: str, image_id: str, when: datetime) -> None:
    """Move the scope's marker past `image_id` (creating it on a pass's first image)."""
    result = session.execute(update(AuditCursorRow).where(AuditCursorRow.scope == scope)
                             .values(last_image_id=image_id, updated_at=when))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(AuditCursorRow).values(
            scope=scope, last_image_id=image_id, started_at=when, updated_at=when))


def finish(session: Session, scope: str) -> None:
    """The pass of this scope is over: the next one starts from the first image.
    The verdicts of images deleted for good go too."""
    session.execute(delete(AuditCursorRow).where(AuditCursorRow.scope == scope))
    session.execute(delete(ImageCopyCheckRow).where(ImageCopyCheckRow.image_id.in_(
        select(ImageRow.id).where(ImageRow.status == str(ImageStatus.DELETED)))))
