"""Crash recovery, run by every worker every RECOVER_EVERY.

A worker process that dies (killed, crashed, its node gone) loses its owner
lock (glint.db.ownership) at once. Every other worker then finds its writes
(image_writes: uploads and stages) and its import tasks:

- a write abandoned by its owner (glint.domain.writes.abandoned) is claimed
  by one worker with a guarded update, what it left in its store or in the
  staging area is removed (glint.services.leftovers), and the image goes back
  to queued with the record removed in one transaction;
- an import task whose worker died is taken over (glint.services.imports);
- the quota reservations of a worker dead for OWNER_DEAD_FOR are released
  (glint.services.quotas).

Every TIDY_EVERY it also releases images importing with no task, and its own
quota reservations that no write holds any more, removes staged data nothing
will import, and recovers images left saving by a Glint
older than the write records (silent for LEGACY_STALLED_AFTER).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from glint.db import quota_repositories as quota_repo
from glint.db import task_repositories as tasks_repo
from glint.db import write_repositories as writes_repo
from glint.db.ownership import Ownership
from glint.db.session import Database
from glint.domain.errors import DatabaseUnavailable
from glint.domain.image import ImageStatus
from glint.domain.task import Task, TaskType
from glint.domain.writes import OWNER_DEAD_FOR, DataWrite, WriteKind, abandoned
from glint.services.clock import now
from glint.services.imports import ImportServices
from glint.services.imports.recovery import abandoned_task
from glint.services.leftovers import remove_unfinished
from glint.stores.base import DataBusy, RecoverableStore, StoreError
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

RECOVER_EVERY = timedelta(seconds=2)
TIDY_EVERY = timedelta(seconds=30)
LEGACY_STALLED_AFTER = timedelta(minutes=5)
# A reservation of this worker that none of its writes holds any more (its release
# failed) is removed once this old.
STALE_RESERVATION = timedelta(minutes=1)
# A write whose data could not be removed (its store failed, or still saw the dead
# writer's session) is tried again after this.
RETRY_AFTER = timedelta(seconds=10)


@dataclass
class Recovery:
    db: Database
    ownership: Ownership
    stores: StoreRegistry
    imports: ImportServices
    # Owners seen without their lock, and since when.
    _dead_since: dict[str, datetime] = field(default_factory=dict)
    # Writes whose data could not be removed, and when to try again.
    _retry_at: dict[str, datetime] = field(default_factory=dict)
    # Owners of quota reservations (glint.services.quotas) dead for OWNER_DEAD_FOR.
    _dead_reservers: set[str] = field(default_factory=set)

    async def keep_running(self) -> None:
        """Forever: `run_once` every RECOVER_EVERY, `tidy` every TIDY_EVERY."""
        tidied = 0.0
        while True:
            try:
                await self.run_once()
                if time.monotonic() - tidied >= TIDY_EVERY.total_seconds():
                    tidied = time.monotonic()
                    await self.tidy()
            except DatabaseUnavailable as exc:
                log.warning("crash recovery skipped: the database is unavailable (%s)",
                            exc.reason)
            except Exception:
                log.exception("crash recovery failed; trying again")
            await asyncio.sleep(RECOVER_EVERY.total_seconds())

    async def run_once(self) -> int:
        """Undo the writes and take over the import tasks of workers that died.
        Returns how many writes and tasks were found abandoned."""
        writes, tasks = await run_in_threadpool(self._abandoned)
        for write in writes:
            await self._recover(write)
        self.imports.take_over(tasks)
        if self._dead_reservers:
            released = await run_in_threadpool(self.imports.quotas.drop_orphans,
                                               self._dead_reservers)
            if released:
                log.warning("released %d quota reservations of workers that stopped (%s)",
                            released, ", ".join(sorted(self._dead_reservers)))
        return len(writes) + len(tasks)

    def _abandoned(self) -> tuple[list[DataWrite], list[Task]]:
        when = now()
        me = self.ownership.owner
        with self.db.reading() as session:
            writes = [w for w in writes_repo.list_writes(session) if w.owner != me]
            tasks = tasks_repo.unfinished_tasks(session, TaskType.API_IMAGE_IMPORT)
            reservers = quota_repo.reservation_owners(session) - {me}
            owners = {w.owner for w in writes} | {t.worker for t in tasks if t.worker} | reservers
            alive = self.ownership.alive(session, owners) if owners else set()
        self._dead_since = {owner: self._dead_since.get(owner, when) for owner in owners - alive}
        self._dead_reservers = {owner for owner in reservers - alive
                                if self._dead_since[owner] <= when - OWNER_DEAD_FOR}
        self._retry_at = {token: at for token, at in self._retry_at.items() if at > when}
        return (
            [w for w in writes if w.token not in self._retry_at
             and abandoned(w, owner_dead_since=self._dead_since.get(w.owner), now=when)],
            [t for t in tasks if abandoned_task(
                t, worker_dead_since=self._dead_since.get(t.worker or ""), when=when)],
        )

    async def _recover(self, write: DataWrite) -> None:
        claimed = await run_in_threadpool(self._claim, write)
        if claimed is None:
            return  # another worker got there first, or the writer woke up
        if not await self._remove_data(claimed):
            await run_in_threadpool(self._give_back, claimed, write)
            self._retry_at[write.token] = now() + RETRY_AFTER
            return
        status = ImageStatus.SAVING if write.kind == WriteKind.UPLOAD else ImageStatus.UPLOADING
        if await run_in_threadpool(self.imports.writes.give_up, claimed, status):
            log.warning("image %s was left %s by a worker that stopped (%s); its unfinished "
                        "data is removed and the image is queued again", write.image_id,
                        status, write.owner)

    def _claim(self, write: DataWrite) -> DataWrite | None:
        when = now()
        with self.db.writing() as session:
            if not writes_repo.claim_write(session, write, self.ownership.owner, when):
                return None
        return DataWrite(token=write.token, image_id=write.image_id,
                         owner=self.ownership.owner, kind=write.kind, store=write.store,
                         started_at=write.started_at, touched_at=when)

    def _give_back(self, claimed: DataWrite, original: DataWrite) -> None:
        """Leave the write as it was, for a later try (by any worker)."""
        with self.db.writing() as session:
            writes_repo.claim_write(session, claimed, original.owner, original.touched_at)

    async def _remove_data(self, write: DataWrite) -> bool:
        """Remove what the write left; False if a store failed (logged)."""
        image_id = write.image_id
        if write.kind == WriteKind.STAGE:
            staging = self.imports.staging
            await run_in_threadpool(staging.remove_partials, image_id)
            await run_in_threadpool(staging.remove, image_id)
            return True
        stores = [self.stores.stores[write.store]] if write.store in self.stores.stores \
            else [s for s in self.stores.stores.values() if isinstance(s, RecoverableStore)]
        try:
            for store in stores:
                await remove_unfinished(self.db, store, image_id)
        except DataBusy as exc:
            log.info("the unfinished upload of image %s in store %s is still held by its dead "
                     "writer's session; trying again in %s s: %s", image_id, exc.store,
                     RETRY_AFTER.seconds, exc.message)
            return False
        except StoreError as exc:
            log.error("cannot remove the unfinished upload of image %s from store %s (trying "
                      "again in %s s): %s", image_id, exc.store, RETRY_AFTER.seconds,
                      exc.message)
            return False
        return True

    async def tidy(self) -> None:
        """The slower checks: images importing with no task, stray staged data, and
        images left saving by an older Glint."""
        await run_in_threadpool(self.imports.tidy)
        stale = await run_in_threadpool(self.imports.quotas.drop_stale,
                                        now() - STALE_RESERVATION)
        if stale:
            log.warning("released %d quota reservations whose writes had ended", stale)
        while (write := await run_in_threadpool(self._claim_legacy_upload)) is not None:
            if await self._remove_data(write):
                await run_in_threadpool(self.imports.writes.give_up, write,
                                        ImageStatus.SAVING)
                log.warning("image %s was left saving by a server that stopped; it is "
                            "queued again", write.image_id)
            else:
                await run_in_threadpool(self._forget, write)
                return

    def _forget(self, write: DataWrite) -> None:
        """Drop this worker's record of a legacy upload: tried again later."""
        with self.db.writing() as session:
            writes_repo.end_write(session, write.token, self.ownership.owner)

    def _claim_legacy_upload(self) -> DataWrite | None:
        """Claim one image saving with no write record and silent for
        LEGACY_STALLED_AFTER (only one worker wins it), recording a write of this
        worker for it (store unknown: all are cleaned)."""
        when = now()
        with self.db.writing() as session:
            for image_id in writes_repo.unrecorded_uploads(session, when - LEGACY_STALLED_AFTER):
                if writes_repo.touch_stalled_image(session, image_id, ImageStatus.SAVING,
                                                   when - LEGACY_STALLED_AFTER, when):
                    write = DataWrite(token=uuid.uuid4().hex, image_id=image_id,
                                      owner=self.ownership.owner, kind=WriteKind.UPLOAD,
                                      store=None, started_at=when, touched_at=when)
                    writes_repo.insert_write(session, write)
                    return write
        return None
