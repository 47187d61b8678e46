"""Image metadata use cases: authorize, check, transition, save.

These functions are synchronous (the database driver is); the HTTP layer runs
them in a worker thread. Each one is one unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from glint.db import repositories as repo
from glint.db.session import Database, retried
from glint.domain import image_rules, lifecycle, location_rules
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, NotFound
from glint.domain.image import Image, ImageStatus, Location, Visibility
from glint.domain.listing import ImageQuery
from glint.domain.new_image import NewImage
from glint.domain.policy import Policy, Target
from glint.domain.property_rules import PropertyOperation, operations_of_patch
from glint.domain.visibility import sight_of
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now as now  # the import modules still take it from here
from glint.services.image_access import ImageAccess
from glint.services.import_progress import SHOWN_AS as PROGRESS_PROPERTY
from glint.services.import_progress import progress_of
from glint.services.metadef_checks import check_image_properties
from glint.services.quotas import Quotas, Reservation
from glint.settings import DisplaySettings, ImageLimitSettings, NotificationSettings

log = logging.getLogger(__name__)


@dataclass
class ImageServices:
    """Image metadata use cases. `db` and `policy` are also read by the
    import modules, until they take their own dependencies."""

    db: Database
    policy: Policy
    access: ImageAccess
    display: DisplaySettings
    limits: ImageLimitSettings
    # `[DEFAULT] delayed_delete`: DELETE leaves data in pending_delete for the scrubber.
    delayed_delete: bool
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))
    # Unified limits' image_count_total on create (glint.services.quotas).
    quotas: Quotas | None = None

    def load_visible(
        self, session: Session, ctx: RequestContext, image_id: str, *, details: bool = True
    ) -> tuple[Image, Target]:
        """ImageAccess.load_visible (NotFound unless the caller sees the image)."""
        return self.access.load_visible(session, ctx, image_id, details=details)

    # Use cases -------------------------------------------------------------

    def readable(self, ctx: RequestContext, image: Image) -> Image:
        """The image as this caller may read it: properties protected from
        reading are left out (property protections), and so are the locations
        when they are shown but get_image_location denies them (as Glance shows
        `locations: []` and no `direct_url` then)."""
        if image.locations and (self.display.show_multiple_locations
                                or self.display.show_image_direct_url):
            if not self.policy.allows("get_image_location", ctx, Target(image=image)):
                image = replace(image, locations=[])
        if self.policy.properties is None:
            return image
        return replace(image, properties=self.policy.properties.readable(ctx, image.properties))

    def show(self, ctx: RequestContext, image_id: str) -> Image:
        """The image as the caller may read it; while an import runs, with its
        progress (`os_glance_import_progress`, see services/import_progress)."""
        with self.db.reading() as session:
            image, _ = self.load_visible(session, ctx, image_id)
            progress = progress_of(session, image)
        image = self.readable(ctx, image)
        if progress is None:
            return image
        return replace(image, properties={**image.properties, PROGRESS_PROPERTY: progress})

    def list_images(self, ctx: RequestContext, query: ImageQuery) -> list[Image]:
        self.policy.enforce("get_images", ctx, Target())
        with self.db.reading() as session:
            images = repo.list_images(session, query, sight_of(ctx))
        return [self.readable(ctx, image) for image in images]

    @retried
    def create(self, ctx: RequestContext, request: NewImage) -> Image:
        """Create the queued image `request` asks for; Forbidden when the caller
        may not create it (for another project, or with that visibility or
        those properties), QuotaExceeded past the property or tag quota."""
        image = request.image(now())
        target = Target(image=image)
        if not self.policy.allows("add_image", ctx, target):
            if image.owner != ctx.project_id:
                raise Forbidden("You are not permitted to create images owned by another project.")
            raise Forbidden("You are not authorized to complete add_image action.")
        self._enforce_visibility(ctx, target, image.visibility)
        if self.policy.properties is not None:
            for name in image.properties:
                self.policy.properties.enforce(ctx, name, PropertyOperation.CREATE)
        image_rules.check_quotas(
            image, property_quota=self.limits.image_property_quota,
            tag_quota=self.limits.image_tag_quota,
        )
        count_limit = self.quotas.image_count_limit(image.owner) if self.quotas else None
        with self.db.writing() as session:
            if count_limit is not None and image.owner is not None:
                Quotas.check_new_image(session, image.owner, count_limit)
            check_image_properties(session, self.limits.validate_image_properties_with_metadefs,
                                   image.properties)
            repo.insert_image(session, image)
        self.events.emit("image.create", lambda: payloads.image(image))
        return self.readable(ctx, image)

    @retried
    def update(
        self, ctx: RequestContext, image_id: str, changes: Sequence[image_rules.Change],
        locations: location_rules.LocationPlan | None = None,
    ) -> Image:
        """Apply a JSON patch atomically: all changes or none.

        `locations` is the outcome of the patch's location changes, already
        authorized and checked against the stores (services/locations.py);
        without attribute changes, modify_image is not needed for it (Glance
        checks only the location rules then). Locations that add data past a
        storage quota raise QuotaExceeded (413)."""
        room = self.quota_room(ctx, image_id) if locations is not None else None
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id)
            located = len(image.locations)
            changes = list(changes)
            if changes or locations is None:
                self.policy.enforce("modify_image", ctx, target)
            self._enforce_property_protections(ctx, image, changes)
            before_status = image.status
            before_visibility = image.visibility
            before_owner = image.owner
            image_rules.apply_changes(image, changes)
            if image.owner != before_owner and not ctx.is_admin:
                raise Forbidden("Only administrators may change an image's owner.")
            if image.visibility != before_visibility:
                self._enforce_visibility(ctx, target, image.visibility)
            image_rules.check_quotas(
                image, property_quota=self.limits.image_property_quota,
                tag_quota=self.limits.image_tag_quota,
            )
            check_image_properties(session, self.limits.validate_image_properties_with_metadefs,
                                   image.properties, (c.name for c in changes))
            if locations is not None:
                location_rules.apply_plan(image, locations)
                if room is not None and self.quotas is not None:
                    added = (image.size or 0) * (len(image.locations) - located)
                    self.quotas.check_added(session, room, added)
            image.updated_at = now()
            repo.save_image(session, image, expected_status=before_status)
            if locations is not None:
                repo.set_locations(session, image.id, image.locations)
        self.events.emit("image.update", lambda: payloads.image(image))
        return self.readable(ctx, image)

    def quota_room(self, ctx: RequestContext, image_id: str) -> Reservation | None:
        """Before a transaction that may add locations: what a storage quota check of
        the image's owner needs (None: no quota applies)."""
        if self.quotas is None or not self.quotas.enabled:
            return None
        with self.db.reading() as session:
            owner = self.load_visible(session, ctx, image_id)[0].owner
        return self.quotas.pending(owner, image_id) if owner is not None else None

    def _enforce_property_protections(
        self, ctx: RequestContext, image: Image, changes: list[image_rules.Change]
    ) -> None:
        if self.policy.properties is None:
            return
        steps = [(str(change.op), change.name) for change in changes
                 if change.name not in image_rules.BASE_ATTRIBUTES]
        for name, operation in operations_of_patch(image.properties, steps):
            self.policy.properties.enforce(ctx, name, operation)

    @retried
    def delete(self, ctx: RequestContext, image_id: str) -> list[Location]:
        """Mark the image deleted; returns the data locations the caller must remove.

        With delayed delete, an image with data goes to pending_delete instead,
        its locations kept for the scrubber (glint.jobs.scrub), and none are
        returned. The checks read the image outside the write transaction, which
        then deletes only if the image is unchanged since (a guarded update), so
        writers hold the write lock as briefly as possible.
        """
        # Properties and tags are read only for the notification that shows them.
        with self.db.reading() as session:
            image, target = self.load_visible(session, ctx, image_id,
                                              details=self.events.wants("image.delete"))
        self.policy.enforce("delete_image", ctx, target)
        if image.protected:
            raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
        status = lifecycle.deleted_status(image, delayed=self.delayed_delete)
        deleted_at = now()
        with self.db.writing() as session:
            if not repo.mark_deleted(session, image.id, deleted_at,
                                     unchanged_since=image.updated_at, status=status):
                raise Conflict(f"Image {image.id} changed while it was being deleted; try again")
        self.events.emit("image.delete", lambda: payloads.deleted(
            payloads.image(replace(image, status=status, updated_at=deleted_at)), deleted_at))
        return [] if status == ImageStatus.PENDING_DELETE else list(image.locations)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "deactivate", ImageStatus.ACTIVE, ImageStatus.DEACTIVATED)

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "reactivate", ImageStatus.DEACTIVATED, ImageStatus.ACTIVE)

    @retried
    def _toggle(
        self, ctx: RequestContext, image_id: str, action: str,
        source: ImageStatus, target_status: ImageStatus,
    ) -> None:
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id,
                                              details=self.events.wants("image.update"))
            self.policy.enforce(action, ctx, target)
            if image.status == target_status:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            changed_at = now()
            if not repo.change_status(session, image.id, source, target_status, changed_at):
                raise Conflict(f"Image {image.id} changed status during the request")
        self.events.emit("image.update", lambda: payloads.image(
            replace(image, status=target_status, updated_at=changed_at)))

    @retried
    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        image_rules.check_tag(tag)
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id)
            self.policy.enforce("modify_image", ctx, target)
            image.tags.add(tag)
            image_rules.check_quotas(
                image, property_quota=-1, tag_quota=self.limits.image_tag_quota
            )
            repo.add_tag(session, image.id, tag)
            image.updated_at = now()
            repo.touch(session, image.id, image.updated_at)
        self.events.emit("image.update", lambda: payloads.image(image))

    @retried
    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id,
                                              details=self.events.wants("image.update"))
            self.policy.enforce("modify_image", ctx, target)
            if not repo.remove_tag(session, image.id, tag):
                raise NotFound(f"Tag {tag} not found on image {image.id}")
            image.tags.discard(tag)
            image.updated_at = now()
            repo.touch(session, image.id, image.updated_at)
        self.events.emit("image.update", lambda: payloads.image(image))

    def _enforce_visibility(
        self, ctx: RequestContext, target: Target, visibility: Visibility
    ) -> None:
        action = image_rules.visibility_action(visibility)
        if action is not None and not self.policy.allows(action, ctx, target):
            raise Forbidden(f"You are not authorized to set image visibility to {visibility}.")

