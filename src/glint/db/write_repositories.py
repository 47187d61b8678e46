"""Reading and writing `image_writes`: who is writing which image's data.

Every change is guarded by the write's token and its owner, so a writer that
was presumed dead (and whose write another process claimed) changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from glint.db.models import ImageLocationRow, ImageRow, ImageWriteRow
from glint.domain.image import ImageStatus
from glint.domain.writes import DataWrite, WriteKind


def _to_write(row: ImageWriteRow) -> DataWrite:
    return DataWrite(token=row.token, image_id=row.image_id, owner=row.owner,
                     kind=WriteKind(row.kind), store=row.store, started_at=row.started_at,
                     touched_at=row.touched_at)


def insert_write(session: Session, write: DataWrite) -> None:
    session.add(ImageWriteRow(token=write.token, image_id=write.image_id, owner=write.owner,
                              kind=write.kind, store=write.store, started_at=write.started_at,
                              touched_at=write.touched_at))
    session.flush()


def touch_write(session: Session, token: str, owner: str, when: datetime) -> bool:
    """Mark the write as alive; False when `owner` no longer holds it."""
    result = session.execute(
        update(ImageWriteRow).where(ImageWriteRow.token == token, ImageWriteRow.owner == owner)
        .values(touched_at=when))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def end_write(session: Session, token: str, owner: str) -> bool:
    """Remove the write; False when `owner` no longer holds it (nothing removed)."""
    result = session.execute(
        delete(ImageWriteRow).where(ImageWriteRow.token == token, ImageWriteRow.owner == owner))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_write(session: Session, write: DataWrite, owner: str, when: datetime) -> bool:
    """Make `owner` the holder of `write` if it is still as read (same owner and
    touched_at); False when another process changed it first."""
    result = session.execute(
        update(ImageWriteRow)
        .where(ImageWriteRow.token == write.token, ImageWriteRow.owner == write.owner,
               ImageWriteRow.touched_at == write.touched_at)
        .values(owner=owner, touched_at=when))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def list_writes(session: Session) -> list[DataWrite]:
    """Every write in progress, oldest first."""
    rows = session.scalars(select(ImageWriteRow).order_by(ImageWriteRow.started_at))
    return [_to_write(row) for row in rows]


def unrecorded_uploads(session: Session, untouched_since: datetime) -> list[str]:
    """Live images saving, not updated since `untouched_since`, with no write record
    (left by a Glint older than the records)."""
    recorded = exists().where(ImageWriteRow.image_id == ImageRow.id)
    return list(session.scalars(
        select(ImageRow.id).where(ImageRow.deleted.is_(False),
                                  ImageRow.status == str(ImageStatus.SAVING),
                                  ImageRow.updated_at < untouched_since, ~recorded)))


def touch_stalled_image(session: Session, image_id: str, status: ImageStatus,
                        untouched_since: datetime, when: datetime) -> bool:
    """Set the image's updated_at to `when` if it is still in `status` and not updated
    since `untouched_since`; of concurrent callers, one wins."""
    result = session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id, ImageRow.deleted.is_(False),
               ImageRow.status == str(status), ImageRow.updated_at < untouched_since)
        .values(updated_at=when))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def live_location_urls(session: Session, fragment: str) -> list[str]:
    """URLs of live images' locations that contain `fragment` (an image id)."""
    return list(session.scalars(
        select(ImageLocationRow.url)
        .join(ImageRow, ImageRow.id == ImageLocationRow.image_id)
        .where(ImageLocationRow.url.contains(fragment, autoescape=True),
               ImageRow.deleted.is_(False))))
