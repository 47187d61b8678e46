"""The record of a data write in progress (an upload or a stage), kept in the
database so that the write of a process that died is found and undone
(glint.services.recovery).

The record is made in the transaction that moves the image to saving
(uploading) and removed in the one that ends the write; every change is
guarded by the write's token and this process's owner id. Before a store
publishes the data, `confirm` makes sure the write is still this process's:
a write another process took over (it thought this one dead) is given up
with Conflict, never published over a newer upload of the same image.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import write_repositories as writes_repo
from glint.db.session import Database
from glint.domain.errors import Conflict
from glint.domain.image import ImageStatus
from glint.domain.writes import HEARTBEAT, DataWrite, WriteKind
from glint.services.clock import now
from glint.services.heartbeat import beat_while_ours

log = logging.getLogger(__name__)


class WriteTakenOver(Conflict):
    """Another process took the write over; this one must not publish or remove data."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"The upload to image {image_id} was given up: this server lost "
                         "its database connection for a while and another one reset the "
                         "image meanwhile; upload the data again")
        self.image_id = image_id


@dataclass
class DataWrites:
    db: Database
    # This process's owner id (glint.db.ownership).
    owner: str

    def begin(self, session: Session, image_id: str, kind: WriteKind,
              store: str | None) -> DataWrite:
        """Record a new write of this process, in the caller's transaction."""
        when = now()
        write = DataWrite(token=uuid.uuid4().hex, image_id=image_id, owner=self.owner,
                          kind=kind, store=store, started_at=when, touched_at=when)
        writes_repo.insert_write(session, write)
        return write

    def end(self, session: Session, write: DataWrite) -> None:
        """Remove the record in the caller's transaction; WriteTakenOver if it is not ours."""
        if not writes_repo.end_write(session, write.token, self.owner):
            raise WriteTakenOver(write.image_id)

    def still_ours(self, write: DataWrite) -> bool:
        """Whether this process still holds the write (and mark it alive)."""
        with self.db.writing() as session:
            return writes_repo.touch_write(session, write.token, self.owner, now())

    def give_up(self, write: DataWrite, status: ImageStatus) -> bool:
        """End a write that failed: the image back from `status` to queued, in one
        transaction with the record's removal. False (nothing done) if not ours."""
        with self.db.writing() as session:
            if not writes_repo.end_write(session, write.token, self.owner):
                return False
            repo.reset_to_queued(session, write.image_id, status, now())
            return True

    async def heartbeat(self, write: DataWrite) -> None:
        """Touch the write every HEARTBEAT until cancelled (see domain.writes.SILENT_FOR)."""
        await beat_while_ours(lambda: self.still_ours(write), HEARTBEAT,
                              f"upload of image {write.image_id}")
        log.warning("write %s of image %s was taken over by another process",
                    write.token, write.image_id)

    async def confirm(self, write: DataWrite) -> None:
        """Just before the store publishes the data: raise WriteTakenOver if the
        write is no longer this process's."""
        if not await run_in_threadpool(self.still_ours, write):
            raise WriteTakenOver(write.image_id)
