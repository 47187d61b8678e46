"""The SQL shape of one page of an image listing, chosen so that every database
answers it by walking an index in sort order and stopping after the page,
however many images there are (see the indexes on ImageRow).

- Sort keys are plain columns, never expressions (an expression defeats the
  index), so NULLs sort where the database puts them: first in ascending
  order on SQLite and MariaDB/MySQL, last on PostgreSQL, as in Glance. The
  keyset condition that follows a marker knows which.
- The keyset condition also bounds the first sort key on its own (`created_at
  <= marker's`), a range an index can start from; the OR of the full
  condition alone is no range to any planner.
- A non-admin listing is the union of what the caller may see for separate
  reasons (its own images, public ones, community ones, ones shared with it),
  each part a page walked in its own index, then merged: one OR over all of
  them leaves a planner to scan every image, or to sort all the visible ones.

No authorization lives here: who sees what is the domain's `Sight`
(domain/visibility.py), which this module only writes as SQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true, union_all
from sqlalchemy.orm import aliased

from glint.db.models import Base, ImageMemberRow, ImageRow
from glint.domain.image import MemberStatus, Visibility
from glint.domain.listing import SortDirection, SortKey
from glint.domain.visibility import EVERY_STATUS, EVERY_VISIBILITY, Sight

# Sort keys whose column may hold NULL.
NULLABLE_SORT_KEYS = frozenset({"name", "container_format", "disk_format", "size"})
Scope = list[ColumnElement[bool]]


def nulls_sort_low(dialect_name: str) -> bool:
    """Whether the database sorts NULL before every value in ascending order."""
    return dialect_name != "postgresql"


def order_by(entity: Any, keys: list[SortKey]) -> list[ColumnElement[Any]]:
    """ORDER BY terms for `keys` (tie-breakers included) on ImageRow or an alias of it."""
    return [getattr(entity, k.key).desc() if k.direction == SortDirection.DESC
            else getattr(entity, k.key).asc() for k in keys]


def after_marker(keys: list[SortKey], marker: ImageRow, nulls_low: bool) -> ColumnElement[bool]:
    """Rows strictly after `marker` in the order of `keys` (keyset pagination),
    with the first key also bounded on its own so an index range can serve it."""
    alternatives: list[ColumnElement[bool]] = []
    for index, key in enumerate(keys):
        equal_so_far = [_equal(k.key, getattr(marker, k.key)) for k in keys[:index]]
        alternatives.append(and_(*equal_so_far, _beyond(key, getattr(marker, key.key), nulls_low)))
    condition = or_(*alternatives)
    bound = _not_before(keys[0], getattr(marker, keys[0].key), nulls_low)
    return condition if bound is None else and_(bound, condition)


def _equal(key: str, value: Any) -> ColumnElement[bool]:
    column = getattr(ImageRow, key)
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def _beyond(key: SortKey, value: Any, nulls_low: bool) -> ColumnElement[bool]:
    """Rows whose `key` comes strictly after `value` in the key's direction."""
    column = getattr(ImageRow, key.key)
    ascending = key.direction == SortDirection.ASC
    if value is None:
        # NULL is at one end: after it come all values, or none.
        return column.is_not(None) if ascending == nulls_low else false()
    beyond = column > value if ascending else column < value
    if key.key in NULLABLE_SORT_KEYS and ascending != nulls_low:
        return or_(beyond, column.is_(None))
    return beyond  # type: ignore[no-any-return]


def _not_before(key: SortKey, value: Any, nulls_low: bool) -> ColumnElement[bool] | None:
    """Rows whose `key` is the marker's or comes after it; None when that is every row."""
    column = getattr(ImageRow, key.key)
    ascending = key.direction == SortDirection.ASC
    if value is None:
        return None if ascending == nulls_low else column.is_(None)
    bound = column >= value if ascending else column <= value
    if key.key in NULLABLE_SORT_KEYS and ascending != nulls_low:
        return or_(bound, column.is_(None))
    return bound  # type: ignore[no-any-return]


def scopes(sight: Sight) -> list[Scope]:
    """The images `sight` sees, as disjoint parts each walked in an index of
    its own: the caller's own images (owner index), those of each open
    visibility (visibility index), those shared with it (its memberships).

    When three visibilities or more are open to the caller (an admin's
    sight), most images are: one walk in the listing's order with a filter
    finds a page soonest. An empty list means nothing can match.
    """
    if len(sight.open) > 2:
        return [[] if sight.open == EVERY_VISIBILITY else [visible(sight)]]
    own = _own_part(sight)
    others: Scope = [] if own is None else [_not_owned_by(sight.project)]
    parts = [] if own is None else [own]
    parts += [[ImageRow.visibility == kind, *others] for kind in Visibility if kind in sight.open]
    if sight.project is not None and sight.shared and Visibility.SHARED not in sight.open:
        overlaps_own = own is not None and Visibility.SHARED in sight.own
        parts.append([ImageRow.visibility == Visibility.SHARED, *(others if overlaps_own else []),
                      ImageRow.id.in_(_shared_with(sight.project, sight.shared))])
    return parts


def visible(sight: Sight) -> ColumnElement[bool]:
    """One condition for the images `sight` sees (Sight.admits, as SQL)."""
    alternatives = [_visibility_in(sight.open)]
    if sight.project is not None and not sight.own <= sight.open:
        alternatives.insert(0, and_(ImageRow.owner == sight.project, _visibility_in(sight.own)))
    if sight.project is not None and sight.shared and Visibility.SHARED not in sight.open:
        alternatives.append(and_(ImageRow.visibility == Visibility.SHARED,
                                 ImageRow.id.in_(_shared_with(sight.project, sight.shared))))
    return or_(*alternatives)


def _own_part(sight: Sight) -> Scope | None:
    """The caller's own images, seen as its own or by an open visibility;
    None when the open visibilities' parts already hold every one of them."""
    if sight.project is None or sight.own <= sight.open:
        return None
    return [ImageRow.owner == sight.project, _visibility_in(sight.own | sight.open)]


def _not_owned_by(project: str | None) -> ColumnElement[bool]:
    return or_(ImageRow.owner.is_(None), ImageRow.owner != project)


def _visibility_in(kinds: frozenset[Visibility]) -> ColumnElement[bool]:
    """`visibility` is one of `kinds`, written as an index range where one can be."""
    if kinds == EVERY_VISIBILITY:
        return true()
    if len(kinds) == 1:
        return ImageRow.visibility == next(iter(kinds))
    missing = EVERY_VISIBILITY - kinds
    if len(missing) == 1:
        return ImageRow.visibility != next(iter(missing))
    return ImageRow.visibility.in_(sorted(kinds))


def _shared_with(project_id: str, statuses: frozenset[MemberStatus]) -> Select[str]:
    statement = select(ImageMemberRow.image_id).where(ImageMemberRow.member == project_id)
    if statuses != EVERY_STATUS:
        statement = statement.where(
            ImageMemberRow.status == next(iter(statuses)) if len(statuses) == 1
            else ImageMemberRow.status.in_(sorted(statuses)))
    return statement


def page(conditions: Scope, scopes: list[Scope], keys: list[SortKey], limit: int
         ) -> Select[ImageRow]:
    """The first `limit` rows matching `conditions` and any of `scopes`, in the
    order of `keys`: one query per scope, each limited, merged by a last sort."""

    def part(scope: Scope) -> Select[ImageRow]:
        statement = (select(ImageRow).where(*conditions, *scope)
                     .order_by(*order_by(ImageRow, keys)).limit(limit))
        for dialect in ("mysql", "mariadb"):
            statement = statement.with_hint(ImageRow, _no_table_scan(), dialect)
        return statement

    if len(scopes) == 1:
        return part(scopes[0])
    parts = [part(scope).subquery() for scope in scopes]
    merged = aliased(ImageRow, union_all(*(select(p) for p in parts)).subquery())
    return select(merged).order_by(*order_by(merged, keys)).limit(limit)


@cache
def _no_table_scan() -> str:
    """MariaDB/MySQL: FORCE INDEX naming every index of images, which only rules
    out reading the table whole. Without it, after a marker in the middle of
    the list MariaDB reads the creation index from its newest end (the
    equality on `deleted`) and skips every row before the marker, instead of
    starting the walk at the marker (the range): 55 ms instead of 0.5 at
    50,000 images. With it, MariaDB takes the range and still picks among all
    indexes (the owner index for an owner filter, the tag index for a tag)."""
    names = sorted(str(index.name) for index in Base.metadata.tables["images"].indexes)
    return f"FORCE INDEX (PRIMARY, {', '.join(names)})"
