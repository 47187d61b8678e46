"""Data writes in progress (uploads and stages) and when one counts as abandoned.

A write belongs to the worker process that started it (its owner id, see
glint.db.ownership). It is abandoned when that process is dead: its lock has
been gone for OWNER_DEAD_FOR (a live process whose database connection
dropped takes its lock back well within that) and the write has been quiet
for QUIET_FOR (a writer checks it still owns its write just before it
publishes data, which touches the write: recovery then keeps off for that
long). A write untouched for SILENT_FOR is abandoned whatever its owner's
lock says: its writer touches it every HEARTBEAT, so its process hangs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

HEARTBEAT = timedelta(seconds=30)
OWNER_DEAD_FOR = timedelta(seconds=4)
QUIET_FOR = timedelta(seconds=5)
SILENT_FOR = timedelta(minutes=10)


class WriteKind(StrEnum):
    UPLOAD = "upload"  # PUT /file: into a store
    STAGE = "stage"  # PUT /stage: into the staging area


@dataclass(frozen=True)
class DataWrite:
    token: str
    image_id: str
    owner: str
    kind: WriteKind
    # The store written to (uploads only).
    store: str | None
    started_at: datetime
    touched_at: datetime


def abandoned(write: DataWrite, *, owner_dead_since: datetime | None, now: datetime) -> bool:
    """Whether `write` has no live writer any more.

    `owner_dead_since` is when its owner was first seen without its lock
    (None: seen alive).
    """
    if write.touched_at <= now - SILENT_FOR:
        return True
    return (owner_dead_since is not None and owner_dead_since <= now - OWNER_DEAD_FOR
            and write.touched_at <= now - QUIET_FOR)
