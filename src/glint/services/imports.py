"""Interoperable image import: stage, then import as a background task.

`stage` streams PUT /stage into the staging area (image queued -> uploading,
format-inspected like an upload). `start_import` checks the request, takes
the image's import lock (`os_glance_import_task`), moves it to `importing`
(copy-image leaves it active, see `copy_image`) and records an
`api_image_import` task in the database. The task runs on the event loop of
the worker that accepted it (`launch`); its state lives in the database, so
if that worker dies, any worker picks it up again (`resume_stalled`): a
running task touches its row every HEARTBEAT, and one silent for
`import_recovery.STALLED_AFTER` is taken over. A task always ends: on success
the image is active; on any failure it is queued again (a copied image stays
active) with its lock released and `os_glance_failed_import` naming the
store, never left `importing`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, InvalidInput, NotFound
from glint.domain.image import Image, ImageStatus
from glint.domain.import_filter import ImportFilter, Resolver
from glint.domain.task import Task, TaskStatus, TaskType
from glint.services.copy_image import copy_to_stores, lock_for_copy
from glint.services.glance_download import Previous, RemoteAuth, pull, restore
from glint.services.image_data import ImageDataServices, _inspected
from glint.services.images import ImageServices, now
from glint.services.import_plugins import inject_properties, run_plugins
from glint.services.import_progress import ImportProgress
from glint.services.import_recovery import clean_staging, release_orphans, stalled_tasks
from glint.services.import_requests import (
    FAILED,
    IMPORTING_TO,
    LOCK,
    check_importable,
    copy_targets,
    import_targets,
    parse_method,
)
from glint.services.import_stores import store_staged
from glint.services.stage_host import STAGE_HOST
from glint.services.staging import Staging
from glint.services.web_download import fetch, resolve_host
from glint.settings import ImportSettings
from glint.stores.hashing import HashingStream, ImageTooLarge
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=15)
RESUME_EVERY = timedelta(seconds=30)
# Long ago: a task marked with it counts as stalled at once.
EPOCH = datetime(2000, 1, 1)


class ImportFailed(Exception):
    """An import step failed; the message is recorded on the task."""


@dataclass
class ImportServices:
    images: ImageServices
    data: ImageDataServices
    stores: StoreRegistry
    settings: ImportSettings
    staging: Staging
    resolve: Resolver = resolve_host
    _running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # glance-download tokens, by task id: in memory only.
    _remote_auth: dict[str, RemoteAuth] = field(default_factory=dict)

    @property
    def filter(self) -> ImportFilter:
        s = self.settings
        return ImportFilter(s.allowed_schemes, s.disallowed_schemes, s.allowed_hosts,
                            s.disallowed_hosts, s.allowed_ports, s.disallowed_ports)

    def methods(self) -> list[str]:
        """The import methods this site offers: the enabled ones it can run
        (copy-image needs several stores)."""
        return [name for name in self.settings.enabled_import_methods
                if name != "copy-image" or self.stores.multistore]

    # Staging ---------------------------------------------------------------

    async def stage(self, ctx: RequestContext, image_id: str, body: AsyncIterator[bytes],
                    *, expected_size: int | None, stage_host: str | None = None) -> None:
        """PUT /stage: keep the body in the staging area; image queued -> uploading.

        `stage_host`, this node's URL, is recorded as os_glance_stage_host.
        """
        if "glance-direct" not in self.settings.enabled_import_methods:
            raise NotFound("'glance-direct' method is not available at this site.")
        cap = self.images.api.image_size_cap
        if expected_size is not None and expected_size > cap:
            raise ImageTooLarge(cap)
        image = await run_in_threadpool(self._begin_stage, ctx, image_id)
        detection = self.data._detection_for(image)
        stream = HashingStream(_inspected(body, detection) if detection else body,
                               algorithm=self.images.api.hashing_algorithm, size_cap=cap,
                               expected_size=expected_size)
        try:
            size = await self.staging.write(image.id, stream.blocks())
            self.data._virtual_size(image, detection)
            await run_in_threadpool(self._end_stage, image.id, size, stage_host)
        except BaseException:
            self.staging.remove(image.id)
            await asyncio.shield(run_in_threadpool(self._revert, image.id, ImageStatus.UPLOADING))
            raise

    def _begin_stage(self, ctx: RequestContext, image_id: str) -> Image:
        with self.images.db.writing() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("modify_image", ctx, target)
            if image.status != ImageStatus.QUEUED:
                raise Conflict(f"Image {image.id} is {image.status}; only a queued image can "
                               "be staged")
            lifecycle.transition(image.status, ImageStatus.UPLOADING)
            if not repo.change_status(session, image.id, ImageStatus.QUEUED,
                                      ImageStatus.UPLOADING, now()):
                raise Conflict(f"Image {image.id} is already receiving data")
            return image

    def _end_stage(self, image_id: str, size: int, stage_host: str | None) -> None:
        with self.images.db.writing() as session:
            repo.change_status(session, image_id, ImageStatus.UPLOADING, ImageStatus.UPLOADING,
                               now(), size=size)
            if stage_host:
                tasks_repo.set_image_property(session, image_id, STAGE_HOST, stage_host)

    def discard_staged(self, image_id: str) -> None:
        """Remove the staged data of a deleted image (a running import then fails)."""
        self.staging.remove(image_id)

    def stage_host(self, ctx: RequestContext, image_id: str) -> tuple[ImageStatus, str | None]:
        """The image's status and the node holding its staged data, if recorded."""
        with self.images.db.reading() as session:
            image, _ = self.images.load_visible(session, ctx, image_id)
        return image.status, image.properties.get(STAGE_HOST)

    def _revert(self, image_id: str, status: ImageStatus) -> bool:
        with self.images.db.writing() as session:
            return repo.change_status(
                session, image_id, status, ImageStatus.QUEUED, now(), size=None,
                virtual_size=None, checksum=None, os_hash_algo=None, os_hash_value=None,
            )

    # Starting an import ----------------------------------------------------

    def start_import(self, ctx: RequestContext, image_id: str, body: Any,
                     store_header: str | None = None, *,
                     remote_auth: RemoteAuth | None = None) -> Task | None:
        """POST /import: check the request, lock the image, record the task (202).

        The data goes to the stores named by `stores` (or the X-Image-Meta-Store
        header), to every writable store with `all_stores`, else to the default store.
        copy-image leaves the image active; with `all_stores` and the image
        already in every store there is nothing to do and no task (None).
        """
        method = parse_method(body, self.settings.enabled_import_methods, self.filter,
                              self.resolve, multistore=self.stores.multistore)
        targets = import_targets(body, store_header, self.stores)
        if method == "glance-download" and remote_auth is None:
            raise InvalidInput("glance-download needs Keystone authentication "
                               "([paste_deploy] flavor = keystone)")
        with self.images.db.writing() as session:
            image, target = self.images.load_visible(session, ctx, image_id)
            copying = method == "copy-image"
            self.images.policy.enforce("copy_image" if copying else "modify_image", ctx, target)
            check_importable(image, method, staged=self.staging.exists(image.id))
            if copying:
                targets = copy_targets(image, targets, all_stores=body.get("all_stores") is True)
                if not targets:
                    log.info("image %s is already in every store", image.id)
                    return None
            task = Task(
                id=str(uuid.uuid4()), type=TaskType.API_IMAGE_IMPORT, status=TaskStatus.PENDING,
                owner=image.owner or ctx.project_id, created_at=now(), updated_at=now(),
                image_id=image.id, request_id=ctx.request_id, user_id=ctx.user_id,
                input={"image_id": image.id, "import_req": body, "backend": targets},
            )
            if copying:
                lock_for_copy(session, image.id, task.id, targets)
            else:
                self._lock_for_import(session, ctx, image, task.id, targets)
            tasks_repo.insert_task(session, task)
        if remote_auth is not None and method == "glance-download":
            self._remote_auth[task.id] = remote_auth
        log.info("import %s of image %s by %s accepted (task %s)", method, image.id,
                 ctx.user_id, task.id)
        return task

    def _lock_for_import(self, session: Any, ctx: RequestContext, image: Image, task_id: str,
                         targets: list[str]) -> None:
        lifecycle.transition(image.status, ImageStatus.IMPORTING)
        if not repo.change_status(session, image.id, image.status, ImageStatus.IMPORTING, now()):
            raise Conflict(f"Image {image.id} changed while the import was requested")
        tasks_repo.drop_image_properties(session, image.id, (FAILED, STAGE_HOST))
        tasks_repo.set_image_property(session, image.id, LOCK, task_id)
        tasks_repo.set_image_property(session, image.id, IMPORTING_TO, ",".join(targets))
        for name, value in inject_properties(self.settings, ctx):
            tasks_repo.set_image_property(session, image.id, name, value)

    # Running tasks ---------------------------------------------------------

    def launch(self, task_id: str) -> None:
        """Run the task in the background of this worker (call on the event loop)."""
        if task_id not in self._running:
            self._running[task_id] = asyncio.create_task(self._run(task_id))
            self._running[task_id].add_done_callback(lambda _: self._running.pop(task_id, None))

    async def _run(self, task_id: str) -> None:
        task = await run_in_threadpool(self._claim, task_id)
        if task is None:
            self._remote_auth.pop(task_id, None)
            return
        heartbeat = asyncio.create_task(self._heartbeat(task_id))
        progress = ImportProgress()
        reporter = asyncio.create_task(progress.report(self.images.db, task_id))
        try:
            await self._execute(task, progress)
        except asyncio.CancelledError:
            # The worker is stopping: let the next one take the task over at once.
            await asyncio.shield(run_in_threadpool(self._release, task_id))
            raise
        except Exception as exc:
            message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
            log.warning("import task %s of image %s failed: %s", task.id, task.image_id, message)
            await asyncio.shield(run_in_threadpool(self._fail, task, message))
        finally:
            self._remote_auth.pop(task_id, None)
            heartbeat.cancel()
            reporter.cancel()

    def _claim(self, task_id: str) -> Task | None:
        with self.images.db.writing() as session:
            task = tasks_repo.get_task(session, task_id)
            if task is None or task.status not in (TaskStatus.PENDING, TaskStatus.PROCESSING):
                return None
            if not tasks_repo.change_task(session, task.id, task.status, TaskStatus.PROCESSING,
                                          now(), unchanged_since=task.updated_at):
                return None
            task.status = TaskStatus.PROCESSING
            return task

    async def _heartbeat(self, task_id: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            await run_in_threadpool(self._touch, task_id)

    def _touch(self, task_id: str) -> None:
        with self.images.db.writing() as session:
            tasks_repo.change_task(session, task_id, TaskStatus.PROCESSING, TaskStatus.PROCESSING,
                                   now())

    def _release(self, task_id: str) -> None:
        with self.images.db.writing() as session:
            tasks_repo.change_task(session, task_id, TaskStatus.PROCESSING, TaskStatus.PROCESSING,
                                   EPOCH)

    async def _execute(self, task: Task, progress: ImportProgress) -> None:
        request = task.input.get("import_req")
        assert isinstance(request, dict)
        backend = task.input.get("backend")
        targets = [str(name) for name in backend] if isinstance(backend, list) and backend \
            else [self.stores.default_store().name]
        must_all = request.get("all_stores_must_succeed", True) is not False
        if request["method"]["name"] == "copy-image":
            await copy_to_stores(self, task, targets, must_all=must_all, progress=progress)
            return
        image = await run_in_threadpool(self._importing_image, task)
        previous: Previous | None = None
        if request["method"]["name"] == "web-download":
            await fetch(str(request["method"]["uri"]), rules=self.filter, resolve=self.resolve,
                        staging=self.staging, image_id=image.id,
                        size_cap=self.images.api.image_size_cap, progress=progress)
        elif request["method"]["name"] == "glance-download":
            previous = await pull(self, image, request["method"],
                                  self._remote_auth.pop(task.id, None))
            image = await run_in_threadpool(self._importing_image, task)
        try:
            if not self.staging.exists(image.id):
                raise ImportFailed("The staged data of the image is missing")
            image = await run_plugins(self, image, task)
            await store_staged(self, task, image, targets, must_all=must_all,
                               progress=progress)
        except BaseException:
            if previous is not None:
                await asyncio.shield(run_in_threadpool(restore, self, image.id, previous))
            raise

    def _importing_image(self, task: Task) -> Image:
        with self.images.db.reading() as session:
            image = repo.get_image(session, task.image_id or "")
        if image is None:
            raise ImportFailed("The image was deleted")
        if image.status != ImageStatus.IMPORTING or image.properties.get(LOCK) != task.id:
            raise ImportFailed(f"Image {image.id} is {image.status}, not importing for this task")
        return image

    def _fail(self, task: Task, message: str) -> None:
        self.staging.remove(task.image_id or "")
        with self.images.db.writing() as session:
            image_id = task.image_id or ""
            image = repo.get_image(session, image_id)
            if image is not None and image.properties.get(LOCK) == task.id:
                self._unlock_failed(session, image_id)
            tasks_repo.change_task(session, task.id, (TaskStatus.PENDING, TaskStatus.PROCESSING),
                                   TaskStatus.FAILURE, now(), message=message[:2000])

    def _unlock_failed(self, session: Any, image_id: str, stores: list[str] | None = None) -> None:
        repo.change_status(
            session, image_id, ImageStatus.IMPORTING, ImageStatus.QUEUED, now(), size=None,
            virtual_size=None, checksum=None, os_hash_algo=None, os_hash_value=None,
        )
        image = repo.get_image(session, image_id)
        pending = (image.properties.get(IMPORTING_TO) if image else None) or ""
        tasks_repo.drop_image_properties(session, image_id, (LOCK, IMPORTING_TO))
        failed = stores or [s for s in pending.split(",") if s] or \
            [self.stores.default_store().name]
        tasks_repo.set_image_property(session, image_id, FAILED, ",".join(failed))

    # Recovery --------------------------------------------------------------

    async def keep_resuming(self) -> None:
        """Forever: pick up tasks whose worker died, release images left importing."""
        while True:
            try:
                await self.resume_stalled()
            except Exception:
                log.exception("resuming stalled imports failed")
            await asyncio.sleep(RESUME_EVERY.total_seconds())

    async def resume_stalled(self) -> int:
        """Launch tasks whose worker died; release images importing with no task;
        remove staged data nothing will import. Returns how many tasks were resumed."""
        stalled = await run_in_threadpool(stalled_tasks, self)
        for task in stalled:
            if task.id not in self._running:
                log.warning("resuming import task %s of image %s", task.id, task.image_id)
                self.launch(task.id)
        await run_in_threadpool(release_orphans, self)
        await run_in_threadpool(clean_staging, self)
        return len(stalled)

    async def stop(self) -> None:
        for running in list(self._running.values()):
            running.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

