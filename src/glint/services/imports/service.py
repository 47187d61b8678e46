"""Interoperable image import: stage, then import as a background task.

`stage` streams PUT /stage into the staging area (image queued -> uploading,
format-inspected like an upload). `start_import` checks the request, takes
the image's import lock (`os_glance_import_task`), moves it to `importing`
(copy-image leaves it active, see `imports.copy_image`) and records an
`api_image_import` task in the database. The task runs on the event loop of
the worker that accepted it (`launch`), whose owner id it records; its state
lives in the database, so when that worker dies (its owner lock is gone, see
glint.db.ownership) another worker takes it over within seconds
(glint.services.recovery), after removing what the dead one left in the
target stores. A running task also touches its row every HEARTBEAT; one
silent for `imports.recovery.STALLED_AFTER` is taken over too. Every change
a runner makes to its task is guarded by its owner id, so a runner that
lost its task stops and changes nothing. A task always ends: on success
the image is active; on any failure it is queued again (a copied image stays
active) with its lock released and `os_glance_failed_import` naming the
store, never left `importing`.

The steps live in modules of their own and receive only what they use
(`ImportDeps`: database, staging, stores, settings); none of them knows this
class, so the package has no import cycle.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.db.session import Database
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, DatabaseUnavailable, InvalidInput
from glint.domain.image import Image, ImageStatus
from glint.domain.import_filter import ImportFilter, Resolver
from glint.domain.task import Task, TaskStatus, TaskType
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.services.data_writes import DataWrites
from glint.services.heartbeat import beat_while_ours
from glint.services.image_access import ImageAccess
from glint.services.import_progress import ImportProgress
from glint.services.imports.copy_image import copy_to_stores, lock_for_copy
from glint.services.imports.deps import ImportDeps
from glint.services.imports.glance_download import Previous, RemoteAuth, pull, restore
from glint.services.imports.plugins import inject_properties, run_plugins
from glint.services.imports.recovery import remove_leftovers, tidy
from glint.services.imports.request import (
    FAILED,
    IMPORTING_TO,
    LOCK,
    ImportMethod,
    ImportRequest,
    ImportTaskInput,
    check_import_uri,
    check_importable,
    copy_targets,
    import_targets,
    parse_request,
)
from glint.services.imports.stage import Stager
from glint.services.imports.stores import store_staged
from glint.services.imports.task_rows import (
    ImportFailed,
    claim,
    fail,
    locked_image,
    release,
)
from glint.services.imports.task_rows import holds as task_held
from glint.services.quotas import Quotas, Reservation, ReservationKind
from glint.services.stage_host import STAGE_HOST
from glint.services.staging import Staging
from glint.services.web_download import fetch, resolve_host
from glint.settings import FormatSettings, ImportSettings, NotificationSettings, UploadSettings
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=15)


@dataclass
class ImportServices:
    db: Database
    access: ImageAccess
    upload: UploadSettings
    formats: FormatSettings
    writes: DataWrites
    stores: StoreRegistry
    settings: ImportSettings
    staging: Staging
    uri_filter: ImportFilter
    # Storage quotas (glint.services.quotas): copies and downloads reserve room.
    quotas: Quotas
    resolve: Resolver = resolve_host
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))
    _running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Tasks this worker ran until another worker took them over.
    _lost: set[str] = field(default_factory=set)
    # glance-download tokens, by task id: in memory only.
    _remote_auth: dict[str, RemoteAuth] = field(default_factory=dict)

    @property
    def deps(self) -> ImportDeps:
        """What the import steps get to use."""
        return ImportDeps(db=self.db, staging=self.staging, stores=self.stores,
                          settings=self.settings, upload=self.upload, formats=self.formats,
                          owner=self.owner,
                          uri_filter=self.uri_filter, resolve=self.resolve,
                          quotas=self.quotas, events=self.events)

    @property
    def owner(self) -> str:
        """This worker process's owner id, recorded on the tasks it runs."""
        return self.writes.owner

    def methods(self) -> list[str]:
        """The import methods this site offers: the enabled ones it can run
        (copy-image needs several stores)."""
        return [name for name in self.settings.enabled_import_methods
                if name != ImportMethod.COPY_IMAGE or self.stores.multistore]

    # Staging ---------------------------------------------------------------

    async def stage(self, ctx: RequestContext, image_id: str, body: AsyncIterator[bytes],
                    *, expected_size: int | None, stage_host: str | None = None) -> None:
        """PUT /stage (see `Stager.stage`)."""
        stager = Stager(self.db, self.access, self.upload, self.formats, self.writes,
                        self.staging, self.settings, self.events, self.quotas)
        await stager.stage(ctx, image_id, body, expected_size=expected_size,
                           stage_host=stage_host)

    def discard_staged(self, image_id: str) -> None:
        """Remove the staged data of a deleted image (a running import then fails)."""
        self.staging.remove(image_id)

    def stage_host(self, ctx: RequestContext, image_id: str) -> tuple[ImageStatus, str | None]:
        """The image's status and the node holding its staged data, if recorded."""
        with self.db.reading() as session:
            image, _ = self.access.load_visible(session, ctx, image_id)
        return image.status, image.properties.get(STAGE_HOST)

    # Starting an import ----------------------------------------------------

    def parse(self, body: object) -> ImportRequest:
        """The import request in a POST /import body, checked against the methods
        this site enables and its stores (`parse_request`); InvalidInput otherwise."""
        return parse_request(body, self.settings.enabled_import_methods,
                             multistore=self.stores.multistore)

    def start_import(self, ctx: RequestContext, image_id: str, request: ImportRequest,
                     store_header: str | None = None, *,
                     remote_auth: RemoteAuth | None = None) -> Task | None:
        """POST /import: lock the image for `request` (see `parse`), record the task (202).

        The data goes to the stores named by `stores` (or the X-Image-Meta-Store
        header), to every writable store with `all_stores`, else to the default store;
        a single-store site ignores all three. The image is checked (NotFound,
        Forbidden, Conflict) before web-download's URI is (UriRefused).
        copy-image leaves the image active; with `all_stores` and the image
        already in every store there is nothing to do and no task (None).
        """
        targets = import_targets(request, store_header, self.stores)
        method = request.method
        if method == ImportMethod.GLANCE_DOWNLOAD and remote_auth is None:
            raise InvalidInput("glance-download needs Keystone authentication "
                               "([paste_deploy] flavor = keystone)")
        if method == ImportMethod.WEB_DOWNLOAD:
            # Existence, visibility, policy and state first: checking the URI
            # resolves its host, which must never happen for just anyone.
            with self.db.reading() as session:
                self._importable(session, ctx, image_id, method)
            check_import_uri(request, self.uri_filter, self.resolve)
        copy_quota = self._copy_quota(ctx, image_id) if method == ImportMethod.COPY_IMAGE \
            else None
        with self.db.writing() as session:
            image = self._importable(session, ctx, image_id, method)
            if method == ImportMethod.COPY_IMAGE:
                targets = copy_targets(image, targets, all_stores=request.all_stores)
                if not targets:
                    log.info("image %s is already in every store", image.id)
                    return None
            task = Task(
                id=str(uuid.uuid4()), type=TaskType.API_IMAGE_IMPORT, status=TaskStatus.PENDING,
                owner=image.owner or ctx.project_id, created_at=now(), updated_at=now(),
                image_id=image.id, request_id=ctx.request_id, user_id=ctx.user_id,
                input=ImportTaskInput(image.id, request, tuple(targets)).as_input(),
                worker=self.owner,
            )
            if method == ImportMethod.COPY_IMAGE:
                lock_for_copy(session, image.id, task.id, targets)
                if copy_quota is not None:
                    self._reserve_copy(session, copy_quota, task.id, image, len(targets))
            else:
                self._lock_for_import(session, ctx, image, task.id, targets)
            tasks_repo.insert_task(session, task)
            # The image as the import left it (importing, locked), for image.update.
            locked = repo.get_image(session, image.id) \
                if self.events.wants("image.update") else None
        if locked is not None:
            self.events.emit("image.update", partial(payloads.image, locked))
        self.events.emit("task.create", lambda: payloads.task(task))
        if remote_auth is not None and method == ImportMethod.GLANCE_DOWNLOAD:
            self._remote_auth[task.id] = remote_auth
        log.info("import %s of image %s by %s accepted (task %s)", method, image.id,
                 ctx.user_id, task.id)
        return task

    def _copy_quota(self, ctx: RequestContext, image_id: str) -> Reservation | None:
        """For copy-image under a quota: the reservation to take (for the image's
        owner, its limits read), else None."""
        quotas = self.quotas
        if not quotas.enabled:
            return None
        with self.db.reading() as session:
            owner = self._importable(session, ctx, image_id, ImportMethod.COPY_IMAGE).owner
        if owner is None:
            return None
        return quotas.pending(owner, image_id, ReservationKind.COPY)

    def _reserve_copy(self, session: Session, pending: Reservation, task_id: str,
                      image: Image, copies: int) -> None:
        """Reserve the copies' bytes for the task, in the transaction that records it:
        QuotaExceeded (413) when they do not fit. The task gives them back when it ends."""
        pending.token = Quotas.task_token(task_id)
        self.quotas.hold(session, pending, (image.size or 0) * copies)

    def _importable(self, session: Session, ctx: RequestContext, image_id: str,
                    method: ImportMethod) -> Image:
        """The image, if the caller may see it and import into it (or copy it)
        with `method` in its present state: NotFound, Forbidden or Conflict."""
        image, target = self.access.load_visible(session, ctx, image_id)
        rule = "copy_image" if method == ImportMethod.COPY_IMAGE else "modify_image"
        self.access.policy.enforce(rule, ctx, target)
        check_importable(image, method, staged=self.staging.exists(image.id))
        return image

    def _lock_for_import(self, session: Session, ctx: RequestContext, image: Image,
                         task_id: str, targets: list[str]) -> None:
        lifecycle.transition(image.status, ImageStatus.IMPORTING)
        if not repo.change_status(session, image.id, image.status, ImageStatus.IMPORTING, now()):
            raise Conflict(f"Image {image.id} changed while the import was requested")
        tasks_repo.drop_image_properties(session, image.id, (FAILED, STAGE_HOST))
        tasks_repo.set_image_property(session, image.id, LOCK, task_id)
        tasks_repo.set_image_property(session, image.id, IMPORTING_TO, ",".join(targets))
        for name, value in inject_properties(self.settings, ctx):
            tasks_repo.set_image_property(session, image.id, name, value)

    # Running tasks ---------------------------------------------------------

    def launch(self, task_id: str, previous: Task | None = None) -> None:
        """Run the task in the background of this worker (call on the event loop).

        `previous`: the task as read when taking it over from a worker that died;
        nothing is run if it changed since."""
        if task_id not in self._running:
            self._running[task_id] = asyncio.create_task(self._run(task_id, previous))
            self._running[task_id].add_done_callback(lambda _: self._running.pop(task_id, None))

    def take_over(self, tasks: list[Task]) -> None:
        """Run tasks whose worker died, each as read (see `launch`)."""
        for task in tasks:
            if task.id not in self._running:
                log.warning("taking over import task %s of image %s from worker %s",
                            task.id, task.image_id, task.worker or "(unknown)")
                self.launch(task.id, previous=task)

    def tidy(self) -> None:
        """Release images importing with no task; remove staged data nothing will import."""
        tidy(self.deps)

    async def _run(self, task_id: str, previous: Task | None) -> None:
        deps = self.deps
        try:
            task = await run_in_threadpool(claim, deps.db, deps.owner, task_id,
                                           previous)
        except DatabaseUnavailable as exc:
            log.warning("import task %s not started: the database is unavailable (%s); it "
                        "will be resumed", task_id, exc.reason)
            return
        if task is None:
            self._remote_auth.pop(task_id, None)
            return
        # Glance's order: the task begins processing as it is run.
        deps.events.emit("task.processing", lambda: payloads.task(task))
        deps.events.emit("task.run", lambda: payloads.task(task))
        runner = asyncio.current_task()
        assert runner is not None
        heartbeat = asyncio.create_task(self._heartbeat(task_id, runner))
        progress = ImportProgress()
        reporter = asyncio.create_task(progress.report(deps.db, task_id))
        try:
            await self._attempt(deps, task, progress, taken_over=previous is not None)
        except asyncio.CancelledError:
            if task_id in self._lost:
                # Another worker runs the task now (this one was thought dead).
                self._lost.discard(task_id)
                runner.uncancel()
                log.warning("import task %s was taken over by another worker", task_id)
                return
            # The worker is stopping: let the next one take the task over at once.
            await asyncio.shield(run_in_threadpool(release, deps.db, deps.owner,
                                                   task_id))
            raise
        finally:
            self._remote_auth.pop(task_id, None)
            heartbeat.cancel()
            reporter.cancel()

    async def _attempt(self, deps: ImportDeps, task: Task, progress: ImportProgress, *,
                       taken_over: bool) -> None:
        """Run the task's steps; a failure ends the task (the database being away
        leaves it to be resumed)."""
        try:
            if taken_over:
                await remove_leftovers(deps, task, self.targets(task))
            await self._execute(deps, task, progress)
        except DatabaseUnavailable as exc:
            # Nothing can be recorded now. The task keeps its state and, with
            # no heartbeat, counts as stalled: it is resumed once the database is back.
            log.warning("import task %s of image %s interrupted: the database is unavailable "
                        "(%s); it will be resumed", task.id, task.image_id, exc.reason)
        except Exception as exc:
            message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
            log.warning("import task %s of image %s failed: %s", task.id, task.image_id, message)
            failed = await asyncio.shield(run_in_threadpool(
                fail, deps.db, deps.staging, deps.owner, task, message,
                self.stores.default))
            if failed is not None:
                deps.events.emit("task.failure", lambda: payloads.task(failed))

    async def _heartbeat(self, task_id: str, runner: asyncio.Task[None]) -> None:
        """Touch the task every HEARTBEAT; stop the runner once another worker holds it."""
        await beat_while_ours(lambda: self.holds(task_id), HEARTBEAT, f"import task {task_id}")
        self._lost.add(task_id)
        runner.cancel()

    def holds(self, task_id: str) -> bool:
        """Whether this worker still runs the task (and mark it alive)."""
        return task_held(self.db, self.owner, task_id)

    def targets(self, task: Task) -> list[str]:
        """The stores the task writes to."""
        return self._targets_of(ImportTaskInput.of(task.input))

    def _targets_of(self, task_input: ImportTaskInput) -> list[str]:
        return list(task_input.targets) or [self.stores.default_store().name]

    async def _execute(self, deps: ImportDeps, task: Task, progress: ImportProgress) -> None:
        task_input = ImportTaskInput.of(task.input)
        request, targets = task_input.request, self._targets_of(task_input)
        must_all = request.all_stores_must_succeed
        if request.method == ImportMethod.COPY_IMAGE:
            await copy_to_stores(deps, task, targets, must_all=must_all, progress=progress)
            return
        image = await run_in_threadpool(locked_image, deps.db, task,
                                        ImageStatus.IMPORTING)
        downloads = (ImportMethod.WEB_DOWNLOAD, ImportMethod.GLANCE_DOWNLOAD)
        reservation = await deps.quotas.reserve(image.owner, image.id, ReservationKind.STAGE,
                                                None) if request.method in downloads else None
        try:
            await self._import_staged(deps, task, image, request, targets, progress,
                                      reservation)
        finally:
            if reservation is not None:
                await asyncio.shield(reservation.release())

    async def _import_staged(self, deps: ImportDeps, task: Task, image: Image,
                             request: ImportRequest, targets: list[str],
                             progress: ImportProgress, quota: Reservation | None) -> None:
        """Download the data into staging (web-download, glance-download; held to
        `quota`, the task's reservation), run the plugins, store it."""
        must_all = request.all_stores_must_succeed
        previous: Previous | None = None
        if request.method == ImportMethod.WEB_DOWNLOAD and request.uri is not None:
            await fetch(request.uri, rules=deps.uri_filter, resolve=deps.resolve,
                        staging=deps.staging, image_id=image.id,
                        data=deps.staged_data_rules(image, quota), progress=progress)
        elif request.method == ImportMethod.GLANCE_DOWNLOAD and request.remote is not None:
            previous = await pull(deps, image, request.remote,
                                  self._remote_auth.pop(task.id, None), quota)
            image = await run_in_threadpool(locked_image, deps.db, task,
                                            ImageStatus.IMPORTING)
        try:
            if not deps.staging.exists(image.id):
                raise ImportFailed("The staged data of the image is missing")
            image = await run_plugins(deps, image)
            stored = await self._cover_stored(deps, image, targets, quota)
            try:
                await store_staged(deps, task, image, targets, must_all=must_all,
                                   progress=progress)
            finally:
                if stored is not None and stored is not quota:
                    await asyncio.shield(stored.release())
        except BaseException:
            if previous is not None:
                await asyncio.shield(run_in_threadpool(restore, deps, image.id, previous))
            raise

    @staticmethod
    async def _cover_stored(deps: ImportDeps, image: Image, targets: list[str],
                            quota: Reservation | None) -> Reservation | None:
        """Room for the staged data as it will be stored (after the plugins, in every
        target store), less what the image's staged size already counts: `quota`
        grown, or a reservation of its own (None: no quota, or nothing more needed).
        QuotaExceeded when it does not fit."""
        if not deps.quotas.enabled:
            return None
        size = await run_in_threadpool(lambda: deps.staging.path(image.id).stat().st_size)
        needed = size * len(targets) - (image.size or 0)
        if quota is not None:
            if needed > quota.granted:
                await quota.cover(needed)
            return quota
        if needed <= 0:
            return None
        return await deps.quotas.reserve(image.owner, image.id, ReservationKind.IMPORT, needed)

    async def stop(self) -> None:
        for running in list(self._running.values()):
            running.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
