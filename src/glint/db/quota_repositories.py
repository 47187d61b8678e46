"""A project's usage, its quota lock and its reservations (glint.services.quotas)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, or_, select, update
from sqlalchemy import exc as sa
from sqlalchemy.orm import Session

from glint.db.models import ImageLocationRow, ImageRow, QuotaLockRow, QuotaReservationRow
from glint.domain.image import ImageStatus
from glint.domain.quota import Usage

# Images whose data (or whose reservation) counts: not deleted, killed or
# waiting to be scrubbed.
_NOT_COUNTED = (str(ImageStatus.KILLED), str(ImageStatus.DELETED),
                str(ImageStatus.PENDING_DELETE))
_RECEIVING = (str(ImageStatus.SAVING), str(ImageStatus.UPLOADING),
              str(ImageStatus.IMPORTING))
_STAGED = (str(ImageStatus.UPLOADING), str(ImageStatus.IMPORTING))
STAGE_KIND = "stage"


def ensure_lock_row(session: Session, project: str) -> None:
    """Create the project's lock row if missing (in a transaction of its own:
    concurrent creators then simply find it there)."""
    if session.get(QuotaLockRow, project) is not None:
        return
    try:
        with session.begin_nested():
            session.execute(insert(QuotaLockRow).values(project=project))
    except sa.IntegrityError:
        pass


def lock_project(session: Session, project: str) -> bool:
    """Lock the project's row until the transaction ends; False if it has none yet.
    (SQLite has no row locks: its writing transactions run one at a time.)"""
    found = session.scalar(
        select(QuotaLockRow.project).where(QuotaLockRow.project == project).with_for_update())
    return found is not None


def _live_images(project: str) -> ColumnElement[bool]:
    return and_(ImageRow.owner == project, ImageRow.deleted.is_(False),
                ImageRow.status.not_in(_NOT_COUNTED))


def usage(session: Session, project: str) -> Usage:
    """The project's usage, its reservations included, read in one statement: one
    snapshot of the images and the reservations, so an upload that ends meanwhile
    (its reservation removed as its image gets its size) is counted exactly once."""
    locations = (select(func.count(ImageLocationRow.id))
                 .where(ImageLocationRow.image_id == ImageRow.id).scalar_subquery())
    copies = case((locations > 1, locations), else_=1)
    live = _live_images(project)

    def reserved(*kinds: str) -> ColumnElement[int]:
        query = select(func.coalesce(func.sum(QuotaReservationRow.size), 0)).where(
            QuotaReservationRow.project == project)
        if kinds:
            query = query.where(QuotaReservationRow.kind.in_(kinds))
        return query.scalar_subquery()

    reserving = select(QuotaReservationRow.image_id).where(QuotaReservationRow.project == project)
    row = session.execute(select(
        select(func.coalesce(func.sum(ImageRow.size * copies), 0))
        .where(live, ImageRow.size > 0).scalar_subquery() + reserved(),
        select(func.coalesce(func.sum(ImageRow.size), 0))
        .where(live, ImageRow.size > 0, ImageRow.status.in_(_STAGED)).scalar_subquery()
        + reserved(STAGE_KIND),
        select(func.count(ImageRow.id)).where(live).scalar_subquery(),
        select(func.count(ImageRow.id))
        .where(live, or_(ImageRow.status.in_(_RECEIVING), ImageRow.id.in_(reserving)))
        .scalar_subquery(),
    )).one()
    return Usage(stored=int(row[0]), staged=int(row[1]), images=int(row[2]),
                 receiving=int(row[3]))


def image_count(session: Session, project: str) -> int:
    return int(session.scalar(select(func.count(ImageRow.id)).where(_live_images(project)))
               or 0)


def insert_reservation(session: Session, *, token: str, project: str, image_id: str,
                       owner: str, kind: str, size: int, when: datetime) -> None:
    session.execute(insert(QuotaReservationRow).values(
        token=token, project=project, image_id=image_id, owner=owner, kind=kind, size=size,
        created_at=when))


def resize_reservation(session: Session, token: str, size: int) -> bool:
    """Set the reservation's size; False when it is gone (crash recovery took it)."""
    result = session.execute(update(QuotaReservationRow)
                             .where(QuotaReservationRow.token == token).values(size=size))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def drop_reservation(session: Session, token: str) -> None:
    session.execute(delete(QuotaReservationRow).where(QuotaReservationRow.token == token))


def reservation_owners(session: Session) -> set[str]:
    return set(session.scalars(select(QuotaReservationRow.owner).distinct()))


def drop_reservations_of(session: Session, owners: Collection[str]) -> int:
    """Remove every reservation of processes that died; how many were removed."""
    result = session.execute(delete(QuotaReservationRow)
                             .where(QuotaReservationRow.owner.in_(list(owners))))
    return int(result.rowcount)  # type: ignore[attr-defined]


def drop_stale_reservations(session: Session, owner: str, older_than: datetime,
                            keep: Collection[str]) -> int:
    """Remove `owner`'s reservations made before `older_than`, except those in `keep`."""
    query = delete(QuotaReservationRow).where(QuotaReservationRow.owner == owner,
                                              QuotaReservationRow.created_at < older_than)
    if keep:
        query = query.where(QuotaReservationRow.token.not_in(list(keep)))
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]
