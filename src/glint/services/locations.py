"""POST /v2/images/{id}/locations (API 2.17): give a queued image data that already
lives in a store, as Nova and Cinder do for Ceph-backed images.

Glance checks the URL, answers 202 and hashes the data in a background task.
Glint hashes it before answering (the answer is still 202), so a location
whose data does not match `validation_data` is never added: the call answers
400 and the image stays queued. Only services and admins may add locations
for now: Glance also lets owners add http(s) URLs that pass the web-download
URI filter, which is not wired in here yet.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.domain import lifecycle
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, InvalidInput
from glint.domain.image import Image, ImageStatus, Location
from glint.services.images import ImageServices, now
from glint.stores.base import SizedStore, Store, StoreError
from glint.stores.hashing import Digests, HashingStream
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

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
        if not isinstance(algo, str) or algo not in hashlib.algorithms_available:
            raise InvalidInput(f"Unknown os_hash_algo {algo!r}")
        digest_size = hashlib.new(algo).digest_size
        if (not isinstance(value, str) or len(value) != 2 * digest_size
                or any(c not in "0123456789abcdefABCDEF" for c in value)):
            raise InvalidInput(f"os_hash_value is not a {algo} digest")
    return NewLocation(url=url.strip(), os_hash_algo=algo,
                       os_hash_value=value.lower() if isinstance(value, str) else None)


@dataclass
class LocationServices:
    images: ImageServices
    stores: StoreRegistry

    async def add(self, ctx: RequestContext, image_id: str, new: NewLocation) -> Image:
        """Check, hash and add the location; the image becomes active."""
        image = await run_in_threadpool(self._check, ctx, image_id, new)
        store = self._store_for(ctx, new.url)
        location = Location(url=new.url, store=self._store_name(store))
        if isinstance(store, SizedStore):
            try:
                await store.size(location)
            except StoreError as exc:
                raise InvalidInput(f"Cannot use {new.url}: {exc.message}") from exc
        digests = await self._hash(store, location, new)
        return await run_in_threadpool(self._activate, image.id, location, digests)

    def _check(self, ctx: RequestContext, image_id: str, new: NewLocation) -> Image:
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("add_image_location", ctx, target)
        if image.status != ImageStatus.QUEUED:
            raise Conflict(f"Image {image.id} is {image.status}; locations can only be added "
                           "to a queued image")
        lifecycle.begin_data(image, ImageStatus.ACTIVE)
        wanted = self.images.api.hashing_algorithm
        if new.os_hash_algo is not None and new.os_hash_algo != wanted:
            raise InvalidInput(f"os_hash_algo must be {wanted}, not {new.os_hash_algo}")
        return image

    def _store_for(self, ctx: RequestContext, url: str) -> Store:
        if not (ctx.is_service or ctx.is_admin):
            # Glance lets owners add http(s) locations that pass the web-download URI
            # filter. Without that filter here, Glint would fetch any URL a user names
            # (cloud metadata, internal services): refused until the filter is wired in.
            raise Forbidden("Only services and admins may add locations")
        store = self.stores.store_for_url(url)
        if store is None:
            raise InvalidInput(f"No configured store can read {url}")
        return store

    def _store_name(self, store: Store) -> str:
        return next(name for name, known in self.stores.stores.items() if known is store)

    async def _hash(self, store: Store, location: Location, new: NewLocation) -> Digests:
        stream = HashingStream(store.read(location), algorithm=self.images.api.hashing_algorithm,
                               size_cap=self.images.api.image_size_cap)
        try:
            async for _ in stream.blocks():
                pass
        except StoreError as exc:
            raise InvalidInput(f"Cannot read {location.url}: {exc.message}") from exc
        digests = stream.digests()
        if new.os_hash_value is not None and digests.os_hash_value != new.os_hash_value:
            raise InvalidInput("The data at the location does not match validation_data")
        return digests

    def _activate(self, image_id: str, location: Location, digests: Digests) -> Image:
        with self.images.db.writing() as session:
            if not repo.change_status(
                session, image_id, ImageStatus.QUEUED, ImageStatus.ACTIVE, now(),
                size=digests.size, checksum=digests.checksum,
                os_hash_algo=digests.os_hash_algo, os_hash_value=digests.os_hash_value,
            ):
                raise Conflict(f"Image {image_id} received data meanwhile")
            repo.set_locations(session, image_id, [location])
            image = repo.get_image(session, image_id)
            assert image is not None
            log.info("image %s now has its data at %s (store %s)", image_id, location.url,
                     location.store)
            return image
