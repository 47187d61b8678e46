"""Image metadata use cases: authorize, check, transition, save.

These functions are synchronous (the database driver is); the HTTP layer runs
them in a worker thread. Each one is one unit of work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from glint.db import repositories as repo
from glint.db.session import Database
from glint.domain import image_rules, lifecycle, location_rules
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, NotFound
from glint.domain.image import Image, ImageStatus, Location, Visibility
from glint.domain.listing import ImageQuery
from glint.domain.policy import Policy, Target, can_see
from glint.domain.property_rules import PropertyOperation, operations_of_patch
from glint.services.import_progress import SHOWN_AS as PROGRESS_PROPERTY
from glint.services.import_progress import progress_of
from glint.services.metadef_checks import check_image_properties
from glint.settings import ApiSettings

log = logging.getLogger(__name__)


def now() -> datetime:
    """Timestamps are naive UTC with microseconds, as stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_image_id(image_id: str) -> str:
    """Canonical form of an image id; NotFound for anything that is not a UUID."""
    try:
        return str(uuid.UUID(image_id))
    except ValueError:
        raise NotFound(f"No image found with ID {image_id}") from None


@dataclass
class ImageServices:
    db: Database
    policy: Policy
    api: ApiSettings

    # Loading ---------------------------------------------------------------

    def target(self, session: Session, ctx: RequestContext, image: Image) -> Target:
        is_member = False
        if ctx.project_id is not None and image.owner != ctx.project_id:
            is_member = repo.get_member(session, image.id, ctx.project_id) is not None
        return Target(image=image, is_image_member=is_member)

    def load_visible(
        self, session: Session, ctx: RequestContext, image_id: str, *, details: bool = True
    ) -> tuple[Image, Target]:
        """The image if this caller may see it; NotFound otherwise (never 403).

        Without `details`, properties and tags are not loaded (for calls that
        only need the image's columns and locations)."""
        image = repo.get_image(session, parse_image_id(image_id), details=details)
        if image is None:
            raise NotFound(f"No image found with ID {image_id}")
        target = self.target(session, ctx, image)
        if not can_see(ctx, target):
            raise NotFound(f"No image found with ID {image_id}")
        self.policy.enforce("get_image", ctx, target)
        return image, target

    # Use cases -------------------------------------------------------------

    def readable(self, ctx: RequestContext, image: Image) -> Image:
        """The image as this caller may read it: properties protected from
        reading are left out (property protections), and so are the locations
        when they are shown but get_image_location denies them (as Glance shows
        `locations: []` and no `direct_url` then)."""
        if image.locations and (self.api.show_multiple_locations
                                or self.api.show_image_direct_url):
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
            images = repo.list_images(
                session, query, project_id=ctx.project_id, is_admin=ctx.is_admin
            )
        return [self.readable(ctx, image) for image in images]

    def create(self, ctx: RequestContext, body: dict[str, Any]) -> Image:
        """Create a queued image from a body the HTTP edge has checked against the
        image schema and for read-only and reserved names."""
        created = now()
        image = Image(
            id=str(body["id"]) if body.get("id") else str(uuid.uuid4()),
            status=ImageStatus.QUEUED,
            visibility=Visibility(body.get("visibility", Visibility.SHARED)),
            created_at=created,
            updated_at=created,
            owner=body.get("owner", ctx.project_id),
        )
        for name, value in body.items():
            if name in ("id", "owner", "visibility") or name in image_rules.IGNORED_ON_CREATE:
                continue
            if name in image_rules.BASE_ATTRIBUTES:
                image_rules.apply_base(image, name, value)
            else:
                image.properties[name] = value
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
            image, property_quota=self.api.image_property_quota, tag_quota=self.api.image_tag_quota
        )
        with self.db.writing() as session:
            check_image_properties(session, self.api, image.properties)
            repo.insert_image(session, image)
        return self.readable(ctx, image)

    def update(
        self, ctx: RequestContext, image_id: str, changes: Iterable[image_rules.Change],
        locations: location_rules.LocationPlan | None = None,
    ) -> Image:
        """Apply a JSON patch atomically: all changes or none.

        `locations` is the outcome of the patch's location changes, already
        authorized and checked against the stores (services/locations.py);
        without attribute changes, modify_image is not needed for it (Glance
        checks only the location rules then)."""
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id)
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
                image, property_quota=self.api.image_property_quota,
                tag_quota=self.api.image_tag_quota,
            )
            check_image_properties(session, self.api, image.properties, (c.name for c in changes))
            if locations is not None:
                location_rules.apply_plan(image, locations)
            image.updated_at = now()
            repo.save_image(session, image, expected_status=before_status)
            if locations is not None:
                repo.set_locations(session, image.id, image.locations)
            return self.readable(ctx, image)

    def _enforce_property_protections(
        self, ctx: RequestContext, image: Image, changes: list[image_rules.Change]
    ) -> None:
        if self.policy.properties is None:
            return
        steps = [(str(change.op), change.name) for change in changes
                 if change.name not in image_rules.BASE_ATTRIBUTES]
        for name, operation in operations_of_patch(image.properties, steps):
            self.policy.properties.enforce(ctx, name, operation)

    def delete(self, ctx: RequestContext, image_id: str) -> list[Location]:
        """Mark the image deleted; returns the data locations the caller must remove.

        The checks read the image outside the write transaction, which then
        deletes only if the image is unchanged since (a guarded update), so
        writers hold the write lock as briefly as possible.
        """
        with self.db.reading() as session:
            image, target = self.load_visible(session, ctx, image_id, details=False)
        self.policy.enforce("delete_image", ctx, target)
        if image.protected:
            raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
        lifecycle.transition(image.status, ImageStatus.DELETED)
        with self.db.writing() as session:
            if not repo.mark_deleted(session, image.id, now(), unchanged_since=image.updated_at):
                raise Conflict(f"Image {image.id} changed while it was being deleted; try again")
        return list(image.locations)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "deactivate", ImageStatus.ACTIVE, ImageStatus.DEACTIVATED)

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, "reactivate", ImageStatus.DEACTIVATED, ImageStatus.ACTIVE)

    def _toggle(
        self, ctx: RequestContext, image_id: str, action: str,
        source: ImageStatus, target_status: ImageStatus,
    ) -> None:
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce(action, ctx, target)
            if image.status == target_status:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            if not repo.change_status(session, image.id, source, target_status, now()):
                raise Conflict(f"Image {image.id} changed status during the request")

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        image_rules.check_tag(tag)
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id)
            self.policy.enforce("modify_image", ctx, target)
            image.tags.add(tag)
            image_rules.check_quotas(
                image, property_quota=-1, tag_quota=self.api.image_tag_quota
            )
            repo.add_tag(session, image.id, tag)
            repo.touch(session, image.id, now())

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.writing() as session:
            image, target = self.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("modify_image", ctx, target)
            if not repo.remove_tag(session, image.id, tag):
                raise NotFound(f"Tag {tag} not found on image {image.id}")
            repo.touch(session, image.id, now())

    def _enforce_visibility(
        self, ctx: RequestContext, target: Target, visibility: Visibility
    ) -> None:
        action = image_rules.visibility_action(visibility)
        if action is not None and not self.policy.allows(action, ctx, target):
            raise Forbidden(f"You are not authorized to set image visibility to {visibility}.")

