from __future__ import annotations

from datetime import datetime

import pytest

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.image import Image, ImageStatus, MemberStatus, Visibility
from glint.domain.policy import Target, can_see, default_policy

MOMENT = datetime(2026, 1, 1)


def image(visibility: Visibility, owner: str = "p1") -> Image:
    return Image(id="i", status=ImageStatus.ACTIVE, visibility=visibility, created_at=MOMENT,
                 updated_at=MOMENT, owner=owner)


def ctx(project: str | None, *roles: str) -> RequestContext:
    return RequestContext(request_id="r", project_id=project, roles=frozenset(roles),
                          is_admin="admin" in roles)


MEMBER = ctx("p1", "member", "reader")
READER = ctx("p1", "reader")
STRANGER = ctx("p2", "member", "reader")
ADMIN = ctx("p9", "admin", "member", "reader")
NOAUTH = RequestContext(request_id="r", is_admin=True)


@pytest.mark.parametrize("visibility,member,seen", [
    (Visibility.PUBLIC, False, True), (Visibility.COMMUNITY, False, True),
    (Visibility.SHARED, False, False), (Visibility.SHARED, True, True),
    (Visibility.PRIVATE, False, False),
])
def test_stranger_sees(visibility: Visibility, member: bool, seen: bool) -> None:
    membership = MemberStatus.PENDING if member else None
    assert can_see(STRANGER, Target(image(visibility), membership=membership)) is seen


def test_admins_and_noauth_see_everything() -> None:
    for caller in (ADMIN, NOAUTH):
        assert can_see(caller, Target(image(Visibility.PRIVATE)))


def test_invisible_image_denial_is_not_found() -> None:
    with pytest.raises(NotFound):
        default_policy().enforce("modify_image", STRANGER, Target(image(Visibility.PRIVATE)))


def test_visible_image_denial_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        default_policy().enforce("modify_image", STRANGER, Target(image(Visibility.PUBLIC)))


@pytest.mark.parametrize("action,caller,allowed", [
    ("modify_image", MEMBER, True), ("modify_image", READER, False),
    ("publicize_image", MEMBER, False), ("publicize_image", ADMIN, True),
    ("communitize_image", MEMBER, True), ("deactivate", MEMBER, True),
    ("download_image", STRANGER, True), ("download_image", READER, False),
    ("get_image", READER, True), ("add_member", STRANGER, False),
])
def test_rules(action: str, caller: RequestContext, allowed: bool) -> None:
    target = Target(image(Visibility.PUBLIC))
    assert default_policy().allows(action, caller, target) is allowed


def test_add_image_only_for_own_project() -> None:
    policy = default_policy()
    assert policy.allows("add_image", MEMBER, Target(image(Visibility.SHARED, owner="p1")))
    assert not policy.allows("add_image", MEMBER, Target(image(Visibility.SHARED, owner="p2")))
    assert not policy.allows("add_image", READER, Target(image(Visibility.SHARED, owner="p1")))


def test_modify_member_only_by_that_member() -> None:
    policy = default_policy()
    target = Target(image(Visibility.SHARED), member_id="p2")
    assert policy.allows("modify_member", STRANGER, target)
    assert not policy.allows("modify_member", MEMBER, target)
