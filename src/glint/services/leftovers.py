"""Removing what writes of an image that died with their process left in a store."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool

from glint.db import write_repositories as writes_repo
from glint.db.session import Database
from glint.domain.image import Location
from glint.stores.base import RecoverableStore, Store

log = logging.getLogger(__name__)


async def remove_unfinished(db: Database, store: Store, image_id: str) -> list[str]:
    """Remove the temporary data of `image_id`'s writes from `store`, and its
    published data unless a live image names it; returns what was removed.

    Only call it while no write of the image can run (the image is held in
    saving, uploading or by its import task). Raises StoreError.
    """
    if not isinstance(store, RecoverableStore):
        log.warning("store %s cannot look for unfinished data of image %s", store.name,
                    image_id)
        return []

    async def in_use(location: Location) -> bool:
        return await run_in_threadpool(_named, db, store, image_id, location)

    removed = await store.remove_unfinished(image_id, in_use)
    for what in removed:
        log.info("removed %s, left by an unfinished write of image %s", what, image_id)
    return removed


def _named(db: Database, store: Store, image_id: str, location: Location) -> bool:
    """Whether a live image has a location that is, or may be, `location`: the same
    URL, or any URL of the same store that mentions the image id (spelled
    differently, it may still be the same data; keeping it is the safe side)."""
    with db.reading() as session:
        urls = writes_repo.live_location_urls(session, image_id)
    return location.url in urls or any(store.accepts(url) for url in urls)
