"""How far a running import is, shown as its task's result (something Glance lacks).

While an `api_image_import` task runs, its `result` is
`{"step": "download" | "store:<store id>", "bytes_done": n, "bytes_total": m}`
(`bytes_total` is null when the web server sent no Content-Length). It is
written as soon as a step begins, then at most every REPORT_EVERY while it
changes, without touching the task's `updated_at` (the heartbeat's business). Anyone who may see the
image reads it with `GET /v2/images/{id}/tasks`; a legacy `import` task shows
its import's progress the same way. When the import succeeds the result
becomes `{"image_id": …}`; a failed import keeps the last progress reported.

The image shows it too, while it is locked by the import: GET /v2/images/{id}
adds `os_glance_import_progress`, e.g. "download 524288/2097159" ("?" for an
unknown total). It is computed for the response, never stored, and users
cannot set it (every `os_glance_` property is reserved).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import task_repositories as tasks_repo
from glint.db.session import Database
from glint.domain.errors import DatabaseUnavailable
from glint.domain.image import Image
from glint.domain.task import TaskStatus

REPORT_EVERY = timedelta(seconds=1)
log = logging.getLogger(__name__)

SHOWN_AS = "os_glance_import_progress"
IMPORT_LOCK = "os_glance_import_task"


@dataclass
class ImportProgress:
    """Bytes done and expected in the current step of one import."""

    step: str | None = None
    done: int = 0
    total: int | None = None
    _began: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def begin(self, step: str, total: int | None) -> None:
        self.step, self.done, self.total = step, 0, total
        self._began.set()

    def begin_file(self, step: str, path: Path) -> None:
        """Begin a step that reads the file at `path` whole."""
        self.begin(step, path.stat().st_size if path.exists() else None)

    async def counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """`chunks`, unchanged, counting their bytes as done."""
        async for chunk in chunks:
            self.done += len(chunk)
            yield chunk

    def result(self) -> dict[str, object] | None:
        if self.step is None:
            return None
        return {"step": self.step, "bytes_done": self.done, "bytes_total": self.total}

    async def report(self, db: Database, task_id: str) -> None:
        """Forever (until cancelled): save the progress on the task when it changed."""
        last: dict[str, object] | None = None
        while True:
            try:
                await asyncio.wait_for(self._began.wait(), REPORT_EVERY.total_seconds())
            except TimeoutError:
                pass
            self._began.clear()
            current = self.result()
            if current is not None and current != last:
                try:
                    await run_in_threadpool(_save, db, task_id, current)
                    last = current
                except DatabaseUnavailable as exc:
                    log.warning("import task %s: progress not saved, the database is "
                                "unavailable (%s)", task_id, exc.reason)


def _save(db: Database, task_id: str, result: dict[str, object]) -> None:
    with db.writing() as session:
        tasks_repo.set_task_result(session, task_id, result)


def progress_of(session: Session, image: Image) -> str | None:
    """The progress of the import holding the image's lock, as the image shows it."""
    task_id = image.properties.get(IMPORT_LOCK)
    if not task_id:
        return None
    task = tasks_repo.get_task(session, task_id)
    if task is None or task.status not in (TaskStatus.PENDING, TaskStatus.PROCESSING):
        return None
    result = task.result or {}
    if "step" not in result:
        return None
    total = result.get("bytes_total")
    return f"{result['step']} {result.get('bytes_done', 0)}/{'?' if total is None else total}"
