"""Sharing images with other projects: the image members use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from glint.db import repositories as repo
from glint.db.session import Database, retried
from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, InvalidInput, NotFound, QuotaExceeded
from glint.domain.image import Image, Member, MemberStatus, Visibility
from glint.domain.policy import Policy, Target
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.services.image_access import ImageAccess
from glint.settings import NotificationSettings


def _require_shared(image: Image) -> None:
    if image.visibility != Visibility.SHARED:
        raise Forbidden(
            f"Only shared images have members; image {image.id} is {image.visibility}."
        )


def _parse_status(status: object) -> MemberStatus:
    try:
        return MemberStatus(str(status))
    except ValueError:
        raise InvalidInput(
            f"Invalid status: {status}. Valid statuses are: pending, accepted, rejected."
        ) from None


@dataclass
class MemberServices:
    db: Database
    access: ImageAccess
    policy: Policy
    # `image_member_quota`: members an image may have; negative for no limit.
    member_quota: int
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))

    def _visible_member(
        self, session: Session, ctx: RequestContext, image: Image, target: Target, member_id: str
    ) -> Member:
        member = repo.get_member(session, image.id, member_id)
        caller_may_know = ctx.is_admin or target.image is not None and (
            image.owner == ctx.project_id or member_id == ctx.project_id
        )
        if member is None or not caller_may_know:
            raise NotFound(f"Member {member_id} not found for image {image.id}")
        return member

    def list_members(self, ctx: RequestContext, image_id: str) -> list[Member]:
        with self.db.reading() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("get_members", ctx, target)
            _require_shared(image)
            members = repo.list_members(session, image.id)
            if ctx.is_admin or image.owner == ctx.project_id:
                return members
            return [m for m in members if m.member_id == ctx.project_id]

    def show(self, ctx: RequestContext, image_id: str, member_id: str) -> Member:
        with self.db.reading() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            if not self.policy.allows("get_member", ctx, target):
                raise NotFound(f"Member {member_id} not found for image {image.id}")
            _require_shared(image)
            return self._visible_member(session, ctx, image, target, member_id)

    @retried
    def add(self, ctx: RequestContext, image_id: str, member_id: str) -> Member:
        with self.db.writing() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("add_member", ctx, target)
            _require_shared(image)
            quota = self.member_quota
            if quota >= 0 and repo.count_members(session, image.id) >= quota:
                raise QuotaExceeded(f"Maximum number of image members exceeded ({quota} allowed).")
            created = now()
            member = Member(image.id, member_id, MemberStatus.PENDING, created, created)
            repo.insert_member(session, member)
        self.events.emit("image.member.create", lambda: payloads.member(member))
        return member

    @retried
    def update(self, ctx: RequestContext, image_id: str, member_id: str, status: object) -> Member:
        new_status = _parse_status(status)
        with self.db.writing() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            _require_shared(image)
            member = self._visible_member(session, ctx, image, target, member_id)
            member_target = Target(image=image, membership=target.membership,
                                   member_id=member_id)
            if not self.policy.allows("modify_member", ctx, member_target):
                raise Forbidden("Only the member project itself may change its membership status.")
            updated = Member(image.id, member_id, new_status, member.created_at, now())
            repo.update_member(session, updated)
        self.events.emit("image.member.update", lambda: payloads.member(updated))
        return updated

    @retried
    def remove(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.writing() as session:
            image, target = self.access.load_visible(session, ctx, image_id, details=False)
            self.policy.enforce("delete_member", ctx, target)
            _require_shared(image)
            member = repo.get_member(session, image.id, member_id)
            if member is None or not repo.delete_member(session, image.id, member_id):
                raise NotFound(f"Member {member_id} not found for image {image.id}")
        deleted_at = now()
        self.events.emit("image.member.delete", lambda: payloads.deleted(
            payloads.member(member), deleted_at))
