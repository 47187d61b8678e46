"""Adding and removing image locations: POST /v2/images/{id}/locations (API 2.17)
and JSON-patch changes of `/locations` (with `show_multiple_locations`).

POST gives a queued image data that already lives in a store, as Nova and
Cinder do for Ceph-backed images. Glance checks the request, answers 202 and
hashes the data in a background `location_import` task. Glint hashes it
before answering (the answer is still 202) and records the same task, ended:
`success` with the image active, or `failure` (the data cannot be read or does
not match `validation_data`) with the image left queued and untouched, as
Glance leaves it; GET /v2/images/{id}/tasks shows it either way. As in Glance,
validation_data may name another algorithm than `hashing_algorithm` (sha1,
sha256, sha512 or md5): the data is hashed with it and the image takes it as
its os_hash_algo. Services and admins may name data in any configured store;
a member of the owning project (add_image_location) only http(s) URLs (any
other is 403, as in Glance), held to the web-download URI filter with every
redirect checked (services/location_fetch.py).

PATCH follows Glance 33's rules (glint.domain.location_rules): a new location
must be readable by a configured store and hold data, `file://` locations are
refused, a queued image becomes active, the last location cannot be removed.
Unlike Glance, http(s) locations that callers without the service role add
pass the same URI filter, a location whose size differs from the image's is
refused, a location in a writable store that another image uses is refused to
callers without the service role, and removing a location deletes its data
only when no other image uses it (Glance deletes it even then, and before the
image is saved).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db import task_repositories as tasks_repo
from glint.domain import lifecycle, location_rules
from glint.domain.context import RequestContext
from glint.domain.digests import Digests
from glint.domain.errors import Conflict, Forbidden, InvalidInput
from glint.domain.image import Image, ImageStatus, Location
from glint.domain.image_rules import Change, PatchOp
from glint.domain.location_rules import LocationChange, LocationPlan
from glint.domain.task import Task, TaskStatus, TaskType
from glint.events import payloads
from glint.services.clock import now
from glint.services.images import ImageServices
from glint.services.ingest import IngestRules, Measured, ingest
from glint.services.location_fetch import CheckedFetcher, LocationUnreadable
from glint.services.quotas import Reservation
from glint.settings import DisplaySettings, ImageLimitSettings, UploadSettings
from glint.stores.base import SizedStore, Store, StoreError, WritableStore
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

# glance_store's restricted schemes: never accepted as a location by PATCH.
RESTRICTED_SCHEMES = frozenset({"file", "filesystem", "swift+config"})
HTTP_SCHEMES = frozenset({"http", "https"})
# The algorithms validation_data may name (Glance's location schema); the
# image takes the one named, whatever [DEFAULT] hashing_algorithm says.
VALIDATION_ALGORITHMS = ("sha1", "sha256", "sha512", "md5")


@dataclass(frozen=True)
class NewLocation:
    url: str
    os_hash_algo: str | None = None
    os_hash_value: str | None = None


def parse_new_location(body: dict[str, Any]) -> NewLocation:
    """The body of POST .../locations; InvalidInput for anything else."""
    unknown = set(body) - {"url", "validation_data"}
    if unknown:
        raise InvalidInput(f"Unknown attribute(s): {', '.join(sorted(unknown))}")
    url = body.get("url")
    if not isinstance(url, str) or not url.strip() or len(url) > 2048:
        raise InvalidInput("'url' must be a non-empty string")
    validation = body.get("validation_data", {})
    if not isinstance(validation, dict):
        raise InvalidInput("'validation_data' must be an object")
    extra = set(validation) - {"os_hash_algo", "os_hash_value"}
    if extra:
        raise InvalidInput(f"Unknown validation data: {', '.join(sorted(extra))}")
    algo, value = validation.get("os_hash_algo"), validation.get("os_hash_value")
    if (algo is None) != (value is None):
        raise InvalidInput("os_hash_algo and os_hash_value go together")
    if algo is not None:
        if not isinstance(algo, str) or algo not in VALIDATION_ALGORITHMS:
            raise InvalidInput(f"os_hash_algo must be one of {', '.join(VALIDATION_ALGORITHMS)}"
                               f", not {algo!r}")
        digest_size = hashlib.new(algo).digest_size
        if (not isinstance(value, str) or len(value) != 2 * digest_size
                or any(c not in "0123456789abcdefABCDEF" for c in value)):
            raise InvalidInput(f"os_hash_value is not a {algo} digest")
    return NewLocation(url=url.strip(), os_hash_algo=algo,
                       os_hash_value=value.lower() if isinstance(value, str) else None)


def location_task(ctx: RequestContext, image: Image, new: NewLocation,
                  started: datetime) -> Task:
    """The `location_import` task recording a POST .../locations (status to be set)."""
    validation = {"os_hash_algo": new.os_hash_algo, "os_hash_value": new.os_hash_value} \
        if new.os_hash_algo else {}
    return Task(id=str(uuid.uuid4()), type=TaskType.LOCATION_IMPORT,
                status=TaskStatus.PROCESSING, owner=ctx.project_id or image.owner,
                created_at=started, updated_at=now(), image_id=image.id,
                input={"image_id": image.id, "loc_url": new.url,
                       "validation_data": validation},
                request_id=ctx.request_id, user_id=ctx.user_id)


def is_service(ctx: RequestContext) -> bool:
    """Callers trusted to name any store's data: the service role and admins."""
    return ctx.is_service or ctx.is_admin


@dataclass
class LocationServices:
    images: ImageServices
    stores: StoreRegistry
    upload: UploadSettings
    display: DisplaySettings
    limits: ImageLimitSettings
    fetcher: CheckedFetcher = field(default_factory=CheckedFetcher)

    # POST /v2/images/{id}/locations ---------------------------------------------

    async def add(self, ctx: RequestContext, image_id: str, new: NewLocation) -> Task:
        """Check, hash and add the location; the image becomes active.

        Refusals of the request itself raise (NotFound, Forbidden, Conflict,
        InvalidInput, UriRefused). What only the data can tell (it cannot be
        read, or does not match validation_data) fails the `location_import`
        task instead, as in Glance, and leaves the image queued. Either way
        the task is recorded and returned.
        """
        started = now()
        image = await run_in_threadpool(self._check, ctx, image_id, new)
        if is_service(ctx):
            store = self._store_for(new.url)
            location = Location(url=new.url, store=self._store_name(store))
            chunks = self._read_store(store, location)
        else:
            store = self._http_store(new.url)
            await self.fetcher.check(new.url)
            location = Location(url=new.url, store=self._store_name(store))
            chunks = self.fetcher.read(new.url)
        task = location_task(ctx, image, new, started)
        try:
            digests = await self._hash(image.id, chunks, location, new)
        except LocationUnreadable as exc:
            log.info("location %s not added to image %s: %s", new.url, image.id, exc.message)
            task.status, task.message = TaskStatus.FAILURE, exc.message
            await run_in_threadpool(self._record, task)
            return task
        room = await run_in_threadpool(self.images.quota_room, ctx, image.id)
        await run_in_threadpool(self._activate, image.id, location, digests, task, room)
        return task

    async def _read_store(self, store: Store, location: Location) -> AsyncIterator[bytes]:
        """The data at a location in a configured store; LocationUnreadable if it
        cannot be read."""
        try:
            if isinstance(store, SizedStore):
                await store.size(location)
            async for chunk in store.read(location):
                yield chunk
        except StoreError as exc:
            raise LocationUnreadable(f"Cannot read {location.url}: {exc.message}") from exc

    def _check(self, ctx: RequestContext, image_id: str, new: NewLocation) -> Image:
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("add_image_location", ctx, target)
        if image.status != ImageStatus.QUEUED:
            raise Conflict(f"Image {image.id} is {image.status}; locations can only be added "
                           "to a queued image")
        lifecycle.begin_data(image, ImageStatus.ACTIVE)
        return image

    def _store_for(self, url: str) -> Store:
        store = self.stores.store_for_url(url)
        if store is None:
            raise InvalidInput(f"No configured store can read {url}")
        return store

    def _http_store(self, url: str) -> Store:
        """The http store, for a caller without the service role: http(s) URLs only."""
        if urlsplit(url).scheme.lower() not in HTTP_SCHEMES:
            raise Forbidden("http store must be enabled to use location API by normal user: "
                            f"only http and https locations may be added, not {url}")
        store = self.stores.store_for_url(url)
        if store is None or self.stores.configs.get(self._store_name(store)) is None \
                or self.stores.configs[self._store_name(store)].type != "http":
            raise Forbidden("The http store is not enabled: only services may add locations")
        return store

    def _store_name(self, store: Store) -> str:
        return next(name for name, known in self.stores.stores.items() if known is store)

    async def _hash(self, image_id: str, chunks: AsyncIterator[bytes], location: Location,
                    new: NewLocation) -> Digests:
        """The data's digests, in validation_data's algorithm if it names one;
        LocationUnreadable when the data cannot be read or does not match."""
        rules = IngestRules(size_cap=self.upload.image_size_cap,
                            algorithm=new.os_hash_algo or self.upload.hashing_algorithm)
        digests = (await ingest(image_id, chunks, Measured(location), rules)).digests
        assert digests is not None
        if new.os_hash_value is not None and digests.os_hash_value != new.os_hash_value:
            raise LocationUnreadable(
                f"os_hash_value: ({new.os_hash_value}) not matched with actual os_hash_value: "
                f"({digests.os_hash_value})")
        return digests

    def _record(self, task: Task) -> None:
        with self.images.db.writing() as session:
            tasks_repo.insert_task(session, task)
        events = self.images.events
        events.emit("task.create", lambda: payloads.task(task))
        events.emit(f"task.{task.status}", lambda: payloads.task(task))

    def _activate(self, image_id: str, location: Location, digests: Digests,
                  task: Task, room: Reservation | None = None) -> Image:
        """The image active with its data at `location`; QuotaExceeded (413) when
        that data does not fit the owner's storage quota (`room`)."""
        with self.images.db.writing() as session:
            if room is not None and self.images.quotas is not None:
                self.images.quotas.check_added(session, room, digests.size)
            if not repo.activate(session, image_id, ImageStatus.QUEUED, now(), digests):
                raise Conflict(f"Image {image_id} received data meanwhile")
            repo.set_locations(session, image_id, [location])
            task.status, task.result = TaskStatus.SUCCESS, {"image_id": image_id}
            tasks_repo.insert_task(session, task)
            image = repo.get_image(session, image_id)
            assert image is not None
            log.info("image %s now has its data at %s (store %s)", image_id, location.url,
                     location.store)
        events = self.images.events
        events.emit("task.create", lambda: payloads.task(task))
        events.emit("image.update", lambda: payloads.image(image))
        events.emit("task.success", lambda: payloads.task(task))
        return image

    # PATCH /v2/images/{id} with /locations ------------------------------------------

    async def patch(self, ctx: RequestContext, image_id: str, changes: list[Change],
                    location_changes: list[LocationChange]) -> Image:
        """Apply a patch that changes locations, atomically with its other changes.

        The new locations are checked against the stores between reading the
        image and saving it; the data of removed locations is deleted once
        the image is saved. Raises Forbidden, Conflict, InvalidInput, NotFound.
        """
        plan = await run_in_threadpool(self._plan, ctx, image_id, location_changes)
        checked: dict[int, Location] = {}
        for location in plan.unchecked:
            checked[id(location)] = await self._check_new(ctx, location, plan)
        plan.after = [checked.get(id(location), location) for location in plan.after]
        image = await run_in_threadpool(self.images.update, ctx, image_id, changes, plan)
        await self.delete_unused_data(image.id, plan.removed)
        return image

    def _plan(self, ctx: RequestContext, image_id: str,
              location_changes: list[LocationChange]) -> LocationPlan:
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
        for change in location_changes:
            if change.op == PatchOp.REPLACE and not change.value:
                raise Forbidden("Cannot set locations to empty list.")
            rule = "delete_image_location" if change.op == PatchOp.REMOVE \
                else "set_image_location"
            self.images.policy.enforce(rule, ctx, target)
        self.images.policy.enforce("get_image_location", ctx, target)
        plan = location_rules.plan_changes(
            image, location_changes, hashing_algorithm=self.upload.hashing_algorithm,
            multistore=self.stores.multistore, shown=self.display.show_multiple_locations,
            quota=self.limits.image_location_quota)
        plan.size = image.size
        return plan

    async def _check_new(self, ctx: RequestContext, location: Location,
                         plan: LocationPlan) -> Location:
        """The location with its store; InvalidInput when no store has data there
        (Glance's "Invalid location") or its size is not the image's. The first
        sized location gives a queued image its size (`plan.size`)."""
        scheme = urlsplit(location.url).scheme.lower()
        store = self.stores.store_for_url(location.url)
        if scheme in RESTRICTED_SCHEMES or store is None:
            raise InvalidInput(f"Invalid location: {location.url}")
        found = replace(location, store=self._store_name(store))
        if not is_service(ctx) and isinstance(store, WritableStore) \
                and await run_in_threadpool(self._in_use, location.url):
            # Data Glint wrote for another image: naming it would give the caller that
            # image's data (and, on deletion, take it away). Glance allows it (OSSN-0065).
            raise InvalidInput(f"Invalid location: another image uses {location.url}")
        try:
            if scheme in HTTP_SCHEMES and not is_service(ctx):
                size = await self.fetcher.size(location.url)
            elif isinstance(store, SizedStore):
                size = await store.size(found)
            else:
                raise InvalidInput(f"Invalid location: the size of {location.url} is unknown")
        except StoreError as exc:
            raise InvalidInput(f"Invalid location: {exc.message}") from exc
        if size <= 0:
            raise InvalidInput(f"Invalid location: no data at {location.url}")
        if plan.size is None:
            plan.size = size
        elif size != plan.size:
            raise InvalidInput(f"Invalid location: {location.url} holds {size} bytes, "
                               f"the image {plan.size}")
        return found

    async def delete_unused_data(self, image_id: str, removed: list[Location]) -> None:
        """Delete the data of locations the image no longer has (removed, or the
        image deleted) that no other live image uses; failures are logged.

        An image's location may name another image's data (services and admins
        may add such locations): deleting one image must not destroy the other's."""
        for location in removed:
            in_use = await run_in_threadpool(self._in_use, location.url)
            if in_use:
                log.info("image %s no longer uses %s; other images still do, data kept",
                         image_id, location.url)
                continue
            try:
                store = self.stores.for_location(location)
                if isinstance(store, WritableStore):
                    await store.delete(location)
            except StoreError as exc:
                log.error("could not delete data at %s from store %s: %s",
                          location.url, exc.store, exc.message)

    def _in_use(self, url: str) -> bool:
        with self.images.db.reading() as session:
            return bool(repo.images_using(session, url))
