"""Who sees which images: the one visibility rule, as a value.

A `Sight` describes the images a caller sees. The domain judges one image
with `Sight.admits` (policy.can_see); the database renders the same value as
SQL to find many at once (db/listing_sql.py), so the rule is written once.
The image list narrows a caller's sight by its `visibility` and
`member_status` filters (`Sight.listed`), never widening it.
"""

from __future__ import annotations

from dataclasses import dataclass

from glint.domain.context import RequestContext
from glint.domain.image import Image, MemberStatus, Visibility

EVERY_VISIBILITY = frozenset(Visibility)
EVERY_STATUS = frozenset(MemberStatus)
# What anyone sees, whoever owns it.
OPEN_TO_ALL = frozenset({Visibility.PUBLIC, Visibility.COMMUNITY})
NOTHING: frozenset[Visibility] = frozenset()


@dataclass(frozen=True)
class Sight:
    """An image is seen when any of these holds:

    - its visibility is in `open` (whoever owns it);
    - `project` owns it and its visibility is in `own`;
    - it is shared and `project` is one of its members with a status in `shared`.
    """

    project: str | None
    own: frozenset[Visibility]
    open: frozenset[Visibility]
    shared: frozenset[MemberStatus]

    def admits(self, image: Image, membership: MemberStatus | None) -> bool:
        """Whether this sight includes `image`, of which the caller's project
        is a member with status `membership` (None: not a member)."""
        if image.visibility in self.open:
            return True
        if self.project is None:
            return False
        if image.owner == self.project and image.visibility in self.own:
            return True
        return image.visibility == Visibility.SHARED and membership in self.shared

    def listed(self, visibility: str | None, member_status: str) -> Sight:
        """The part of this sight an image list shows.

        `visibility` is the list's filter: one visibility, "all", or None for
        the default, which leaves out other projects' community images.
        `member_status` is the status a shared image's membership must have
        ("all": any).
        """
        if visibility is None:
            own, others = EVERY_VISIBILITY, EVERY_VISIBILITY - {Visibility.COMMUNITY}
        elif visibility == "all":
            own = others = EVERY_VISIBILITY
        else:
            own = others = frozenset({Visibility(visibility)})
        statuses = EVERY_STATUS if member_status == "all" else {MemberStatus(member_status)}
        return Sight(
            project=self.project,
            own=self.own & own,
            open=self.open & others,
            shared=self.shared & statuses if Visibility.SHARED in others else frozenset(),
        )


def sight_of(ctx: RequestContext) -> Sight:
    """The images this caller sees at all (any other is a 404 to it).

    Admins see everything; others see their own project's images, public and
    community images, and shared images their project is a member of (in any
    status: accepting a membership only changes what the list shows).
    """
    if ctx.is_admin:
        return Sight(ctx.project_id, EVERY_VISIBILITY, EVERY_VISIBILITY, frozenset())
    if ctx.project_id is None:
        return Sight(None, NOTHING, OPEN_TO_ALL, frozenset())
    return Sight(ctx.project_id, EVERY_VISIBILITY, OPEN_TO_ALL, EVERY_STATUS)
