from __future__ import annotations

from datetime import datetime

import pytest

from glint.domain.context import RequestContext
from glint.domain.image import Image, ImageStatus, MemberStatus, Visibility
from glint.domain.visibility import sight_of

MOMENT = datetime(2026, 1, 1)
PROJECT = RequestContext(request_id="r", project_id="p1", roles=frozenset({"member"}))
ADMIN = RequestContext(request_id="r", project_id="p9", is_admin=True)
NO_PROJECT = RequestContext(request_id="r")
ACCEPTED, PENDING = MemberStatus.ACCEPTED, MemberStatus.PENDING
V = Visibility


def image(visibility: Visibility, owner: str | None = "p2") -> Image:
    return Image(id="i", status=ImageStatus.ACTIVE, visibility=visibility, created_at=MOMENT,
                 updated_at=MOMENT, owner=owner)


@pytest.mark.parametrize("caller,visibility,owner,membership,seen", [
    (PROJECT, V.PRIVATE, "p1", None, True),
    (PROJECT, V.PRIVATE, "p2", None, False),
    # A membership left over from when the image was shared does not show it.
    (PROJECT, V.PRIVATE, "p2", ACCEPTED, False),
    (PROJECT, V.SHARED, "p2", PENDING, True),
    (PROJECT, V.SHARED, "p2", None, False),
    (PROJECT, V.COMMUNITY, "p2", None, True),
    (PROJECT, V.PUBLIC, None, None, True),
    (NO_PROJECT, V.PUBLIC, "p2", None, True),
    (NO_PROJECT, V.COMMUNITY, "p2", None, True),
    (NO_PROJECT, V.SHARED, None, None, False),
    (NO_PROJECT, V.PRIVATE, None, None, False),
    (ADMIN, V.PRIVATE, "p2", None, True),
    (ADMIN, V.SHARED, None, None, True),
])
def test_who_sees_an_image(caller: RequestContext, visibility: Visibility, owner: str | None,
                           membership: MemberStatus | None, seen: bool) -> None:
    assert sight_of(caller).admits(image(visibility, owner), membership) is seen


@pytest.mark.parametrize("caller,filters,visibility,owner,membership,listed", [
    # By default a list leaves out others' community images and unaccepted shares.
    (PROJECT, (None, "accepted"), V.COMMUNITY, "p2", None, False),
    (PROJECT, (None, "accepted"), V.COMMUNITY, "p1", None, True),
    (PROJECT, (None, "accepted"), V.SHARED, "p2", PENDING, False),
    (PROJECT, (None, "accepted"), V.SHARED, "p2", ACCEPTED, True),
    (PROJECT, (None, "pending"), V.SHARED, "p2", PENDING, True),
    (PROJECT, (None, "all"), V.SHARED, "p2", PENDING, True),
    (PROJECT, ("all", "accepted"), V.COMMUNITY, "p2", None, True),
    (PROJECT, ("public", "accepted"), V.SHARED, "p1", None, False),
    (PROJECT, ("shared", "accepted"), V.SHARED, "p1", None, True),
    # The member status filter only concerns others' shared images.
    (PROJECT, ("shared", "rejected"), V.SHARED, "p1", None, True),
    (ADMIN, (None, "accepted"), V.COMMUNITY, "p2", None, False),
    (ADMIN, (None, "accepted"), V.COMMUNITY, "p9", None, True),
    (ADMIN, (None, "accepted"), V.SHARED, "p2", None, True),
    (ADMIN, ("all", "accepted"), V.COMMUNITY, "p2", None, True),
    (ADMIN, ("private", "accepted"), V.PUBLIC, "p2", None, False),
    (NO_PROJECT, (None, "accepted"), V.COMMUNITY, "p2", None, False),
    (NO_PROJECT, ("community", "accepted"), V.COMMUNITY, "p2", None, True),
])
def test_what_a_list_shows(caller: RequestContext, filters: tuple[str | None, str],
                           visibility: Visibility, owner: str | None,
                           membership: MemberStatus | None, listed: bool) -> None:
    sight = sight_of(caller).listed(*filters)
    assert sight.admits(image(visibility, owner), membership) is listed
