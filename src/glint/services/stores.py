"""Several stores at once: discovery, where to read from, removing one copy.

Reads try an image's locations in order (the client's `prefer` first, then
by store weight, highest first) and move on when a store fails before
sending anything; once bytes have gone out a failure can only end the
response, and is logged with the store's name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, StoreUnavailable
from glint.domain.image import ImageStatus, Location
from glint.domain.policy import Target
from glint.services.images import ImageServices, now
from glint.stores.base import DataNotFound, DescribedStore, StoreError, WritableStore
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass
class StoreServices:
    images: ImageServices
    stores: StoreRegistry

    def infos(self, ctx: RequestContext, *, detail: bool) -> list[dict[str, object]]:
        """GET /v2/info/stores[/detail]; NotFound without multistore, Forbidden for
        details when the policy says no."""
        if not self.stores.multistore:
            raise NotFound("Multi backend is not supported at this site.")
        if detail:
            self.images.policy.enforce("stores_info_detail", ctx, Target())
        found: list[dict[str, object]] = []
        for info in self.stores.infos():
            entry: dict[str, object] = {"id": info.id}
            if info.description:
                entry["description"] = info.description
            if info.default:
                entry["default"] = "true"
            if info.read_only:
                entry["read-only"] = "true"
            if detail:
                store = self.stores.stores[info.id]
                entry["type"] = info.type
                entry["properties"] = (store.properties()
                                       if isinstance(store, DescribedStore) else {})
                entry["weight"] = info.weight
            found.append(entry)
        return found

    def upload_target(self, requested: str | None) -> WritableStore:
        """The store an upload goes to: the one named by X-Image-Meta-Store with
        multistore (InvalidInput when unknown or read-only), else the default."""
        if requested is None or not self.stores.multistore:
            return self.stores.default_store()
        if requested not in self.stores.stores:
            raise InvalidInput(f"Store for identifier {requested} not found")
        store = self.stores.stores[requested]
        if not isinstance(store, WritableStore):
            raise InvalidInput(f"Store {requested} is read-only")
        return store

    def ordered(self, locations: list[Location], prefer: str | None) -> list[Location]:
        """Locations in the order to try them: preferred stores first (in the order
        given), then by store weight. InvalidInput for a bad `prefer`."""
        preferred: list[str] = []
        if prefer is not None:
            if not self.stores.multistore:
                raise InvalidInput("The prefer parameter needs multiple stores to be enabled")
            preferred = [name.strip() for name in prefer.split(",") if name.strip()]
            unknown = [name for name in preferred if name not in self.stores.stores]
            if unknown or not preferred:
                raise InvalidInput(f"Unknown store(s) in prefer: {', '.join(unknown) or prefer!r}")
        if not self.stores.multistore:
            return list(locations)

        def rank(location: Location) -> tuple[int, int]:
            position = (preferred.index(location.store) if location.store in preferred
                        else len(preferred))
            return position, -self.stores.weight(location.store)

        return sorted(locations, key=rank)

    async def open(self, locations: list[Location], start: int,
                   length: int | None) -> AsyncIterator[bytes]:
        """The bytes of the first location whose store answers.

        Raises NotFound when no store has the data, StoreUnavailable (503)
        when the stores holding it fail.
        """
        failure: StoreError | None = None
        for location in locations:
            try:
                store = self.stores.for_location(location)
                chunks = aiter(store.read(location, start, length))
                first = await anext(chunks, b"")
            except StoreError as exc:
                log.error("store %s failed to read %s: %s", exc.store, location.url, exc.message)
                failure = exc if failure is None or isinstance(failure, DataNotFound) else failure
                continue
            return _continued(first, chunks, location)
        if failure is None or isinstance(failure, DataNotFound):
            raise NotFound("Image data not found in any store")
        raise StoreUnavailable(f"Image storage failed: {failure.message}", failure.store)

    def locations(self, ctx: RequestContext, image_id: str) -> list[Location]:
        """GET /v2/images/{id}/locations (2.17): where the data is, in read order;
        for services and admins (fetch_image_location)."""
        with self.images.db.reading() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("fetch_image_location", ctx, target)
        return self.ordered(image.locations, None)

    async def delete_from_store(self, ctx: RequestContext, store_name: str,
                                image_id: str) -> Location:
        """DELETE /v2/stores/{store}/{image}: drop one copy of an active image's
        data from its locations; the caller deletes the data itself when no other
        image uses it (LocationServices.delete_unused_data)."""
        if not self.stores.multistore:
            raise NotFound("Multi backend is not supported at this site.")
        if store_name not in self.stores.stores:
            raise Conflict(f"The selected store {store_name} is not available on this node.")
        return await run_in_threadpool(self._forget_location, ctx, store_name, image_id)

    def _forget_location(self, ctx: RequestContext, store_name: str, image_id: str) -> Location:
        with self.images.db.writing() as session:
            image, target = self.images.load_visible(session, ctx, image_id, details=False)
            self.images.policy.enforce("get_image_location", ctx, target)
            self.images.policy.enforce("delete_image_location", ctx, target)
            locked = repo.get_image(session, image.id, for_update=True, details=False)
            if locked is None:
                raise NotFound(f"No image found with ID {image_id}")
            if locked.status != ImageStatus.ACTIVE:
                raise Conflict("It's not allowed to remove image data from store if image "
                               "status is not 'active'")
            if len(locked.locations) == 1:
                raise Forbidden("Cannot delete image data from the only store containing it. "
                                "Consider deleting the image instead if you want to remove "
                                "all copies of the data.")
            found = [loc for loc in locked.locations if loc.store == store_name]
            if not found:
                raise NotFound(f"Image {image.id} is not stored in store {store_name}.")
            remaining = [loc for loc in locked.locations if loc is not found[0]]
            repo.set_locations(session, image.id, remaining)
            repo.touch(session, image.id, now())
            return found[0]


async def _continued(first: bytes, chunks: AsyncIterator[bytes],
                     location: Location) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk
    except StoreError as exc:
        log.error("store %s failed while sending %s: %s", exc.store, location.url, exc.message)
        raise
    finally:
        # A client that goes away leaves the store's reader half-read: close it now.
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
