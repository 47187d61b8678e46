"""The operations behind /v2/cache and `glint cache`: listing, queueing,
deleting, clearing, cleaning and pruning this node's cache, and which nodes
hold an image. Each checks its policy rule (Glance's names, admin by default)."""

from __future__ import annotations

from dataclasses import dataclass

from glint.db import cache_repositories as cache_repo
from glint.domain import cache as rules
from glint.domain.cache import ClearTarget, EntryState
from glint.domain.context import RequestContext
from glint.domain.errors import InvalidInput, NotFound
from glint.domain.image import ImageStatus
from glint.domain.policy import Policy, Target
from glint.jobs.cache import CachePasses, CleanReport
from glint.services.clock import now
from glint.services.image_access import ImageAccess
from glint.services.image_cache import ImageCache


@dataclass
class CacheAdmin:
    cache: ImageCache
    passes: CachePasses
    access: ImageAccess
    policy: Policy

    def listing(self, ctx: RequestContext) -> dict[str, object]:
        """GET /v2/cache: this node's current entries and its queue."""
        self.policy.enforce("cache_list", ctx, Target())
        with self.cache.db.reading() as session:
            cached = cache_repo.current_entries(session, self.cache.node)
            queued = cache_repo.queued(session, self.cache.node)
        return {"cached_images": [rules.glance_entry(entry) for entry in cached],
                "queued_images": queued}

    def queue(self, ctx: RequestContext, image_id: str) -> None:
        """PUT /v2/cache/{id}: queue an active image for the prefetcher."""
        with self.cache.db.writing() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("cache_image", ctx, target)
            if image.status != ImageStatus.ACTIVE:
                raise InvalidInput(f"Image {image.id} is not active; only active images can "
                                   "be cached")
            cache_repo.queue(session, self.cache.node, image.id, now())

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        """DELETE /v2/cache/{id}: the image out of this node's cache and queue;
        NotFound when it is in neither."""
        self.policy.enforce("cache_delete", ctx, Target())
        with self.cache.db.writing() as session:
            removed = cache_repo.remove(session, self.cache.node, image_id)
            dequeued = cache_repo.dequeue(session, self.cache.node, image_id)
        self.cache.folder.remove(image_id)
        if not removed and not dequeued:
            raise NotFound(f"Image {image_id} is not cached or queued")

    def clear(self, ctx: RequestContext, header: str | None) -> None:
        """DELETE /v2/cache: every entry, the queue, or both."""
        self.policy.enforce("cache_delete", ctx, Target())
        target = rules.clear_target(header)
        if target in (ClearTarget.QUEUE, ClearTarget.BOTH):
            with self.cache.db.writing() as session:
                cache_repo.dequeue(session, self.cache.node)
        if target in (ClearTarget.CACHE, ClearTarget.BOTH):
            with self.cache.db.writing() as session:
                removed = cache_repo.entries(session, self.cache.node, EntryState.READY)
                for entry in removed:
                    cache_repo.remove(session, self.cache.node, entry.image_id, EntryState.READY)
            for entry in removed:
                self.cache.folder.remove(entry.image_id)

    def clean(self, ctx: RequestContext) -> CleanReport:
        """POST /v2/cache/clean: the cleaner, now."""
        self.policy.enforce("cache_clean", ctx, Target())
        return self.passes.clean()

    def prune(self, ctx: RequestContext) -> CleanReport:
        """POST /v2/cache/prune: the pruner, now."""
        self.policy.enforce("cache_prune", ctx, Target())
        return self.passes.prune()

    def nodes(self, ctx: RequestContext, image_id: str) -> list[str]:
        """GET /v2/cache/nodes/{id}: the nodes whose cache holds the image."""
        with self.cache.db.reading() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("list_cached_nodes", ctx, target)
            return cache_repo.nodes_holding(session, image.id)
