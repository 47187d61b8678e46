"""What the orphan reaper asks the database: which data an image still names,
and which images are being written or imported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from glint.db.models import ImageLocationRow, ImageRow, ImageWriteRow
from glint.domain.image import ImageStatus


def naming_urls(session: Session, image_id: str) -> list[str]:
    """URLs mentioning `image_id` of the locations of every image not (yet)
    deleted: live ones and those in pending_delete, whose data the scrubber
    still has to delete."""
    return list(session.scalars(
        select(ImageLocationRow.url)
        .join(ImageRow, ImageRow.id == ImageLocationRow.image_id)
        .where(ImageLocationRow.url.contains(image_id, autoescape=True),
               ImageRow.status != str(ImageStatus.DELETED))))


def being_written(session: Session, image_id: str, touched_after: datetime) -> bool:
    """Whether a write of the image's data (upload or stage) is recorded and was
    touched after the given moment (a running write touches its record every
    few seconds; one whose process died stays untouched)."""
    return bool(session.scalar(select(exists().where(
        ImageWriteRow.image_id == image_id, ImageWriteRow.touched_at > touched_after))))


def live_status(session: Session, image_id: str) -> ImageStatus | None:
    """The status of the live (not deleted) image with this id; None if there is none."""
    status = session.scalar(select(ImageRow.status).where(
        ImageRow.id == image_id, ImageRow.deleted.is_(False)))
    return None if status is None else ImageStatus(status)
