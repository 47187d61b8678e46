"""Several stores at once: discovery, where to read from, removing one copy.

Reads try an image's locations in order (the client's `prefer` first, then
by store weight, highest first) and move on when a store fails before
sending anything; once bytes have gone out a failure can only end the
response, and is logged with the store's name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from glint.db import repositories as repo
from glint.db.session import Database
from glint.domain.context import RequestContext
from glint.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NoGoodCopy,
    NotFound,
    StoreUnavailable,
)
from glint.domain.image import ImageStatus, Location
from glint.domain.policy import Policy, Target
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.services.image_access import ImageAccess
from glint.settings import NotificationSettings
from glint.stores.base import (
    DataNotFound,
    DescribedStore,
    FileSpan,
    LocalFileStore,
    Store,
    StoreError,
    WritableStore,
)
from glint.stores.filesystem import read_span
from glint.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass
class StoreServices:
    db: Database
    access: ImageAccess
    policy: Policy
    stores: StoreRegistry
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))

    def infos(self, ctx: RequestContext, *, detail: bool) -> list[dict[str, object]]:
        """GET /v2/info/stores[/detail]; NotFound without multistore, Forbidden for
        details when the policy says no."""
        if not self.stores.multistore:
            raise NotFound("Multi backend is not supported at this site.")
        if detail:
            self.policy.enforce("stores_info_detail", ctx, Target())
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

    async def open(self, locations: list[Location], start: int, length: int | None,
                   set_aside_of: str | None = None) -> OutgoingData:
        """The bytes of the first location whose store answers; a local file's
        come with their FileSpan too (see OutgoingData).

        Raises NotFound when no store has the data, StoreUnavailable (503)
        when the stores holding it fail, and NoGoodCopy instead of either when
        `set_aside_of` names the image whose bad copies were left out.
        """
        failure: StoreError | None = None
        for location in locations:
            try:
                return await _open_one(self.stores.for_location(location), location, start, length)
            except StoreError as exc:
                log.error("store %s failed to read %s: %s", exc.store, location.url, exc.message)
                failure = exc if failure is None or isinstance(failure, DataNotFound) else failure
        if set_aside_of is not None:
            raise NoGoodCopy(set_aside_of)
        if failure is None or isinstance(failure, DataNotFound):
            raise NotFound("Image data not found in any store")
        raise StoreUnavailable(f"Image storage failed: {failure.message}", failure.store)

    def locations(self, ctx: RequestContext, image_id: str) -> list[Location]:
        """GET /v2/images/{id}/locations (2.17): where the data is, in read order;
        for services and admins (fetch_image_location)."""
        with self.db.reading() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("fetch_image_location", ctx, target)
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
        with self.db.writing() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("get_image_location", ctx, target)
            self.policy.enforce("delete_image_location", ctx, target)
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
            # As Glance saves the image without that copy: image.update.
            changed = repo.get_image(session, image.id) \
                if self.events.wants("image.update") else None
        if changed is not None:
            self.events.emit("image.update", lambda: payloads.image(changed))
        return found[0]


@dataclass
class OutgoingData:
    """Image data on its way to a client: `chunks` to send, or, when `span` is
    set (the data is a local file), the span itself for a server that can send
    a file without copying it. `aclose()` releases either."""

    chunks: AsyncIterator[bytes]
    span: FileSpan | None = None

    async def aclose(self) -> None:
        closer = getattr(self.chunks, "aclose", None)
        if closer is not None:
            await closer()
        if self.span is not None:
            self.span.file.close()


async def _open_one(store: Store, location: Location, start: int,
                    length: int | None) -> OutgoingData:
    """Open one location; raises StoreError before any byte is promised."""
    if isinstance(store, LocalFileStore):
        span = await store.open_span(location, start, length)
        return OutgoingData(_continued(b"", read_span(span), location), span)
    chunks = aiter(store.read(location, start, length))
    first = await anext(chunks, b"")
    return OutgoingData(_continued(first, chunks, location))


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
