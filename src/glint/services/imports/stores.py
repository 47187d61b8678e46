"""The last step of an import: the staged data into each target store, then
the image active with those locations.

Staged data was hashed (and inspected) once, when it was staged, and its
digests kept (glint.services.staging): unchanged, it is hashed nothing
again, and each store's copy is checked against the kept size; changed since,
each copy is hashed and must match the kept digests. Data a plugin changed
is hashed in the first store's pass and its digests kept for the others.

With `all_stores_must_succeed` (the default)
a failing store fails the task and every copy written is removed; otherwise
failed stores are listed in `os_glance_failed_import` and the image becomes
active in the others (if any).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.domain.errors import StorageFull, StoreUnavailable
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.task import Task, TaskStatus
from glint.events import payloads
from glint.services.clock import now
from glint.services.import_progress import ImportProgress
from glint.services.imports.deps import ImportDeps
from glint.services.imports.task_rows import succeed
from glint.services.imports.written import remove_written, show_progress, unlock_done
from glint.services.ingest import Expected, Ingested, IngestRules, format_check, ingest_file
from glint.services.staging import StagedDigests
from glint.stores.base import WritableStore

log = logging.getLogger(__name__)


class StoringFailed(Exception):
    """No store took the data, or the image changed meanwhile; recorded on the task."""


async def store_staged(deps: ImportDeps, task: Task, image: Image, targets: list[str], *,
                       must_all: bool, progress: ImportProgress) -> None:
    """Write the staged data to every target store and make the image active."""
    staging = deps.staging
    written: list[tuple[WritableStore, Location]] = []
    failed: list[str] = []
    kept = await run_in_threadpool(staging.kept, image.id)
    try:
        for name in targets:
            store = deps.stores.writable(name)
            progress.begin_file(f"store:{name}", staging.path(image.id))
            rules = await run_in_threadpool(_rules, deps, image, kept)
            try:
                ingested = await ingest_file(image.id, staging.path(image.id),
                                             progress.counted(staging.read(image.id)),
                                             store, rules)
            except (StoreUnavailable, StorageFull) as exc:
                if must_all or len(targets) == 1:
                    raise
                log.warning("import of image %s to store %s failed: %s", image.id, name,
                            exc.message)
                failed.append(name)
                await run_in_threadpool(show_progress, deps, image.id, targets, written,
                                        failed)
                continue
            written.append((store, ingested.location))
            kept = await run_in_threadpool(_kept_after, deps, image, kept, ingested)
            await run_in_threadpool(show_progress, deps, image.id, targets, written, failed)
        if kept is None or not written:
            raise StoringFailed(f"The import failed in every store: {', '.join(failed)}")
        await run_in_threadpool(_activate, deps, task, image,
                                [location for _, location in written], kept, failed)
    except BaseException:
        await asyncio.shield(remove_written(deps, task, written))
        raise
    staging.remove(image.id)


def _rules(deps: ImportDeps, image: Image, kept: StagedDigests | None) -> IngestRules:
    """How the staged data goes into a store. Unchanged data whose digests were kept
    (at stage time, or by the first store's pass) is neither hashed nor inspected
    again: the copy is checked by its size. Data a plugin changed (nothing kept) is
    hashed and inspected in this pass; data changed since its digests were kept is
    hashed again and must match them."""
    upload = deps.upload
    formats = format_check(image, deps.formats)
    if kept is not None and (formats is None or kept.inspected_as == formats.disk_format):
        formats = None
    if kept is None:
        return IngestRules(size_cap=upload.image_size_cap, algorithm=upload.hashing_algorithm,
                           formats=formats)
    if deps.staging.unchanged(image.id, kept):
        return IngestRules(size_cap=upload.image_size_cap, algorithm=None, formats=formats,
                           expected=Expected(size=kept.digests.size))
    log.warning("staged data of image %s changed since it was hashed; hashing it again",
                image.id)
    return IngestRules(size_cap=upload.image_size_cap, algorithm=kept.digests.os_hash_algo,
                       formats=formats, expected=Expected.of(kept.digests))


def _kept_after(deps: ImportDeps, image: Image, kept: StagedDigests | None,
                ingested: Ingested) -> StagedDigests:
    """The staged data's digests once a store took it: those kept before, or (the
    data was hashed in this pass, after a plugin changed it) the ones just found,
    kept now so that the next stores hash nothing."""
    formats = format_check(image, deps.formats)
    inspected_as = formats.disk_format if formats else None
    if kept is None:
        assert ingested.digests is not None
        return deps.staging.keep(image.id, ingested.digests, ingested.virtual_size,
                                    inspected_as)
    if ingested.inspected:
        return replace(kept, virtual_size=ingested.virtual_size, inspected_as=inspected_as)
    return kept


def _activate(deps: ImportDeps, task: Task, image: Image, locations: list[Location],
              kept: StagedDigests, failed: list[str]) -> None:
    with deps.db.writing() as session:
        if not repo.activate(session, image.id, ImageStatus.IMPORTING, now(), kept.digests,
                             kept.virtual_size):
            raise StoringFailed("The image was deleted or changed during the import")
        repo.set_locations(session, image.id, locations)
        unlock_done(session, image.id, failed)
        if not succeed(session, deps.owner, task):
            raise StoringFailed("Another worker took the import task over")
        active = repo.get_image(session, image.id)
    # As Glance's import flow: the data stored, the image active, the task done.
    if active is not None:
        deps.events.emit("image.upload", lambda: payloads.image_with_imports(active))
        deps.events.emit("image.activate", lambda: payloads.image(active))
        deps.events.emit("image.update", lambda: payloads.image(active))
    deps.events.emit("task.success", lambda: payloads.task(
        replace(task, status=TaskStatus.SUCCESS, updated_at=now())))
