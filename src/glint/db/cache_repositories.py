"""The image cache's state in the shared database (the centralized_db driver):
each node's entries and queue. Rules about what may be served live in
glint.domain.cache; these functions only read and write rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glint.db.models import CachedImageRow, CacheNodeRow, CacheQueueRow, ImageRow
from glint.domain.cache import CacheEntry, EntryState
from glint.domain.image import ImageStatus


def _entry(row: CachedImageRow) -> CacheEntry:
    return CacheEntry(node=row.node, image_id=row.image_id, state=EntryState(row.state),
                      size=row.size, hits=row.hits, checksum=row.checksum,
                      signature=row.signature, last_accessed=row.last_accessed,
                      last_modified=row.last_modified)


def lock_node(session: Session, node: str, moment: datetime) -> None:
    """Create the node's row if needed and lock it until the transaction ends:
    admissions of one node run one after the other."""
    if session.get(CacheNodeRow, node) is None:
        try:
            with session.begin_nested():
                session.add(CacheNodeRow(node=node, created_at=moment))
        except IntegrityError:
            pass  # another process added it first
    session.scalar(select(CacheNodeRow.node).where(CacheNodeRow.node == node).with_for_update())


def entry(session: Session, node: str, image_id: str) -> CacheEntry | None:
    row = session.scalar(select(CachedImageRow).where(
        CachedImageRow.node == node, CachedImageRow.image_id == image_id))
    return None if row is None else _entry(row)


def entries(session: Session, node: str, state: EntryState | None = None) -> list[CacheEntry]:
    """The node's entries (of one state when given), oldest access first."""
    query = select(CachedImageRow).where(CachedImageRow.node == node)
    if state is not None:
        query = query.where(CachedImageRow.state == str(state))
    query = query.order_by(CachedImageRow.last_accessed, CachedImageRow.image_id)
    return [_entry(row) for row in session.scalars(query)]


def _current() -> object:
    """Entries whose image is live, active and has the data they were verified against."""
    return and_(ImageRow.deleted.is_(False), ImageRow.status == str(ImageStatus.ACTIVE),
                CachedImageRow.size == ImageRow.size,
                or_(CachedImageRow.checksum == ImageRow.os_hash_value,
                    and_(ImageRow.os_hash_value.is_(None),
                         CachedImageRow.checksum == ImageRow.checksum)))


def current_entries(session: Session, node: str) -> list[CacheEntry]:
    """The node's ready entries that still match their image (what GET /v2/cache lists)."""
    query = (select(CachedImageRow).join(ImageRow, ImageRow.id == CachedImageRow.image_id)
             .where(CachedImageRow.node == node, CachedImageRow.state == str(EntryState.READY),
                    _current())  # type: ignore[arg-type]
             .order_by(CachedImageRow.last_accessed, CachedImageRow.image_id))
    return [_entry(row) for row in session.scalars(query)]


def stale_entries(session: Session, node: str) -> list[CacheEntry]:
    """The node's entries whose image is gone, no longer active or has other data."""
    current = (select(CachedImageRow.id).join(ImageRow, ImageRow.id == CachedImageRow.image_id)
               .where(CachedImageRow.node == node, _current()))  # type: ignore[arg-type]
    query = select(CachedImageRow).where(CachedImageRow.node == node,
                                         CachedImageRow.id.not_in(current))
    return [_entry(row) for row in session.scalars(query)]


def nodes_holding(session: Session, image_id: str) -> list[str]:
    """Nodes with a ready, current entry of the image."""
    query = (select(CachedImageRow.node).join(ImageRow, ImageRow.id == CachedImageRow.image_id)
             .where(CachedImageRow.image_id == image_id,
                    CachedImageRow.state == str(EntryState.READY), _current())  # type: ignore[arg-type]
             .order_by(CachedImageRow.node))
    return list(session.scalars(query))


def total_size(session: Session, node: str) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(CachedImageRow.size), 0))
                              .where(CachedImageRow.node == node)) or 0)


def add_filling(session: Session, node: str, image_id: str, size: int, checksum: str,
                moment: datetime) -> None:
    """Reserve `size` bytes for an entry on its way (state filling)."""
    session.add(CachedImageRow(node=node, image_id=image_id, state=str(EntryState.FILLING),
                               size=size, hits=0, checksum=checksum, signature=None,
                               last_accessed=moment, last_modified=moment))
    session.flush()


def mark_ready(session: Session, node: str, image_id: str, signature: str,
               moment: datetime) -> bool:
    """The filling entry is complete and verified; False when it was removed meanwhile."""
    result = session.execute(
        update(CachedImageRow)
        .where(CachedImageRow.node == node, CachedImageRow.image_id == image_id,
               CachedImageRow.state == str(EntryState.FILLING))
        .values(state=str(EntryState.READY), signature=signature, last_modified=moment,
                last_accessed=moment))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_hit(session: Session, node: str, image_id: str, moment: datetime) -> None:
    session.execute(
        update(CachedImageRow)
        .where(CachedImageRow.node == node, CachedImageRow.image_id == image_id)
        .values(hits=CachedImageRow.hits + 1, last_accessed=moment))


def remove(session: Session, node: str, image_id: str,
           state: EntryState | None = None) -> bool:
    """Remove the node's entry of the image (only in `state` when given)."""
    query = delete(CachedImageRow).where(CachedImageRow.node == node,
                                         CachedImageRow.image_id == image_id)
    if state is not None:
        query = query.where(CachedImageRow.state == str(state))
    return bool(session.execute(query).rowcount)  # type: ignore[attr-defined]


def queue(session: Session, node: str, image_id: str, moment: datetime) -> None:
    if session.get(CacheQueueRow, (node, image_id)) is None:
        session.add(CacheQueueRow(node=node, image_id=image_id, queued_at=moment))


def queued(session: Session, node: str) -> list[str]:
    return list(session.scalars(select(CacheQueueRow.image_id).where(CacheQueueRow.node == node)
                                .order_by(CacheQueueRow.queued_at, CacheQueueRow.image_id)))


def dequeue(session: Session, node: str, image_id: str | None = None) -> int:
    """Remove one image (or all) from the node's queue; how many were removed."""
    query = delete(CacheQueueRow).where(CacheQueueRow.node == node)
    if image_id is not None:
        query = query.where(CacheQueueRow.image_id == image_id)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]
