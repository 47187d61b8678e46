"""Loading an image for a caller: the caller's relation to it, and NotFound
unless the caller may see it (never 403 for an image it cannot see)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from glint.db import repositories as repo
from glint.domain.context import RequestContext
from glint.domain.errors import NotFound
from glint.domain.image import Image
from glint.domain.policy import Policy, Target, can_see


def parse_image_id(image_id: str) -> str:
    """Canonical form of an image id; NotFound for anything that is not a UUID."""
    try:
        return str(uuid.UUID(image_id))
    except ValueError:
        raise NotFound(f"No image found with ID {image_id}") from None


@dataclass(frozen=True)
class ImageAccess:
    policy: Policy

    def target(self, session: Session, ctx: RequestContext, image: Image) -> Target:
        """The image and the caller's membership of it, for the policy's rules."""
        member = None
        if ctx.project_id is not None and image.owner != ctx.project_id:
            member = repo.get_member(session, image.id, ctx.project_id)
        return Target(image=image, membership=None if member is None else member.status)

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
