"""Reading and changing images in pending_delete, for the scrubber.

A pending_delete image is a deleted row (hidden from the API, as in Glance)
whose location rows still name its data. The scrubber detaches one location
row at a time before deleting its data, and puts it back if the delete fails,
so a failed copy is retried on the next pass; the image becomes `deleted`
only once no location row is left. Every change is guarded by the image still
being in pending_delete, so a restore (back to active) and a pass never act
on the same location twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from glint.db.models import ImageLocationRow, ImageRow
from glint.domain.image import ImageStatus, Location

PENDING = str(ImageStatus.PENDING_DELETE)


@dataclass(frozen=True)
class PendingLocation:
    """A location row of a pending_delete image, as read before detaching it."""

    row_id: int
    image_id: str
    position: int
    location: Location


def _is_pending(image_id: str) -> Exists:
    return exists().where(ImageRow.id == image_id, ImageRow.status == PENDING)


def due_images(session: Session, deleted_before: datetime) -> list[str]:
    """Ids of pending_delete images deleted before the given moment, oldest first."""
    return list(session.scalars(
        select(ImageRow.id)
        .where(ImageRow.status == PENDING, ImageRow.deleted.is_(True),
               ImageRow.deleted_at <= deleted_before)
        .order_by(ImageRow.deleted_at, ImageRow.id)
    ))


def pending_locations(session: Session, image_id: str) -> list[PendingLocation]:
    """The location rows an image in pending_delete still has."""
    rows = session.scalars(
        select(ImageLocationRow)
        .where(ImageLocationRow.image_id == image_id, _is_pending(image_id))
        .order_by(ImageLocationRow.position, ImageLocationRow.id)
    )
    return [PendingLocation(
        row_id=row.id, image_id=row.image_id, position=row.position,
        location=Location(url=row.url, store=row.store, metadata=json.loads(row.meta_data)),
    ) for row in rows]


def detach(session: Session, pending: PendingLocation) -> bool:
    """Remove the location row if its image is still pending_delete; False if
    another pass took it first or the image was restored."""
    result = session.execute(
        delete(ImageLocationRow)
        .where(ImageLocationRow.id == pending.row_id,
               _is_pending(pending.image_id))
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def reattach(session: Session, pending: PendingLocation) -> bool:
    """Put a detached location row back if its image is still pending_delete."""
    if not session.scalar(select(_is_pending(pending.image_id))):
        return False
    session.execute(insert(ImageLocationRow).values(
        image_id=pending.image_id, url=pending.location.url, store=pending.location.store,
        meta_data=json.dumps(pending.location.metadata), position=pending.position,
    ))
    return True


def finish(session: Session, image_id: str, when: datetime) -> bool:
    """pending_delete -> deleted once the image has no location row left."""
    result = session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id, ImageRow.status == PENDING,
               ~exists().where(ImageLocationRow.image_id == image_id))
        .values(status=ImageStatus.DELETED, updated_at=when)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def status_of(session: Session, image_id: str) -> ImageStatus | None:
    """The status of the image row with this id, deleted or not; None if there is none."""
    status = session.scalar(select(ImageRow.status).where(ImageRow.id == image_id))
    return None if status is None else ImageStatus(status)


def restore(session: Session, image_id: str, when: datetime) -> bool:
    """pending_delete -> active, live again, if it still has a location; False otherwise."""
    result = session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id, ImageRow.status == PENDING,
               exists().where(ImageLocationRow.image_id == image_id))
        .values(status=ImageStatus.ACTIVE, deleted=False, deleted_at=None, updated_at=when)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
