"""Glance 33's default (secure RBAC) policy rules as plain functions.

Each rule takes the caller's context and, where the rule is about an image,
the image and whether the caller is one of its members; it returns a
decision and does no I/O. The services enforce them and choose between 404
(the caller may not even see the image) and 403 (seen but not allowed),
exactly as Glance does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.image import Image, MemberStatus, Visibility
from glint.domain.metadef_policy import MetadefPolicy, default_metadef_policy
from glint.domain.property_rules import PropertyProtections
from glint.domain.visibility import sight_of


@dataclass(frozen=True)
class Target:
    """What a rule is judged against: the image and the caller's relation to it
    (`membership`: the status of the caller's project as a member of the image,
    None when it is not one)."""

    image: Image | None = None
    membership: MemberStatus | None = None
    member_id: str | None = None

    @property
    def is_image_member(self) -> bool:
        return self.membership is not None


Rule = Callable[[RequestContext, Target], bool]


def _owns(ctx: RequestContext, target: Target) -> bool:
    return (
        target.image is not None
        and ctx.project_id is not None
        and target.image.owner == ctx.project_id
    )


def _widely_visible(target: Target) -> bool:
    return target.image is not None and target.image.visibility in (
        Visibility.PUBLIC, Visibility.COMMUNITY, Visibility.SHARED,
    )


def can_see(ctx: RequestContext, target: Target) -> bool:
    """Whether the image exists for this caller at all (else: 404); the rule
    itself is domain/visibility.py's `sight_of`."""
    return target.image is not None and sight_of(ctx).admits(target.image, target.membership)


def admin(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin


def project_reader(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or ctx.is_reader


def project_member(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or ctx.is_member


def member_of_owner(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or (ctx.is_member and _owns(ctx, target))


def reader_of_visible(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or (
        ctx.is_reader and (_owns(ctx, target) or target.is_image_member or _widely_visible(target))
    )


def member_of_visible(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or (
        ctx.is_member and (_owns(ctx, target) or target.is_image_member or _widely_visible(target))
    )


def reader_of_owner_or_member(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or (ctx.is_reader and (_owns(ctx, target) or target.is_image_member))


def add_image(ctx: RequestContext, target: Target) -> bool:
    """Members create images for their own project only (admins for anyone)."""
    if ctx.is_admin:
        return True
    owner = target.image.owner if target.image is not None else None
    return ctx.is_member and owner == ctx.project_id


def modify_member(ctx: RequestContext, target: Target) -> bool:
    """Only the member project itself (or an admin) changes a membership status."""
    return ctx.is_admin or (ctx.is_member and target.member_id == ctx.project_id)


def service_api(ctx: RequestContext, target: Target) -> bool:
    return ctx.is_admin or ctx.is_service


def anyone(ctx: RequestContext, target: Target) -> bool:
    """Glance's "rule:default" (an empty check): the Tasks API rules behind tasks_api_access."""
    return True


DEFAULT_RULES: dict[str, Rule] = {
    "get_images": project_reader,
    "get_image": reader_of_visible,
    "add_image": add_image,
    "modify_image": member_of_owner,
    "delete_image": member_of_owner,
    "upload_image": member_of_owner,
    "download_image": member_of_visible,
    "publicize_image": admin,
    "communitize_image": member_of_owner,
    "deactivate": member_of_owner,
    "reactivate": member_of_owner,
    "get_members": reader_of_owner_or_member,
    "get_member": reader_of_owner_or_member,
    "add_member": member_of_owner,
    "delete_member": member_of_owner,
    "modify_member": modify_member,
    "get_image_location": project_reader,
    "set_image_location": member_of_owner,
    "delete_image_location": admin,
    "stores_info_detail": service_api,
    "tasks_api_access": admin,
    "cache_list": admin,
    "cache_image": admin,
    "cache_delete": admin,
    "cache_clean": admin,
    "cache_prune": admin,
    "list_cached_nodes": admin,
    "get_tasks": anyone,
    "get_task": anyone,
    "add_task": anyone,
    "modify_task": anyone,
}


@dataclass(frozen=True)
class Policy:
    """A rule table, plus the property protections when an operator set some,
    and the metadata definitions' rules.

    The running service fills the tables from oslo.policy (Glance's defaults
    with the operator's policy file over them, see services/authorization.py);
    DEFAULT_RULES states the same defaults as plain functions.
    """

    rules: dict[str, Rule]
    properties: PropertyProtections | None = None
    metadefs: MetadefPolicy = field(default_factory=default_metadef_policy)

    def allows(self, action: str, ctx: RequestContext, target: Target) -> bool:
        return self.rules[action](ctx, target)

    def enforce(self, action: str, ctx: RequestContext, target: Target) -> None:
        """Raise Forbidden when `action` is denied; NotFound when the caller
        could not even see the image (Glance never confirms such an image exists)."""
        if self.allows(action, ctx, target):
            return
        if target.image is not None and not (
            can_see(ctx, target) and self.allows("get_image", ctx, target)
        ):
            raise NotFound(f"No image found with ID {target.image.id}")
        raise Forbidden(f"You are not authorized to complete {action} action.")


def default_policy() -> Policy:
    return Policy(rules=dict(DEFAULT_RULES))
