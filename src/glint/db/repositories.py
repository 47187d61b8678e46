"""Reading and writing images and members. No authorization lives here:
list queries render the caller's `Sight`, which the domain decides."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    delete,
    exists,
    false,
    func,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glint.db import audit_repositories as audit_repo
from glint.db import listing_sql
from glint.db.models import (
    ImageLocationRow,
    ImageMemberRow,
    ImagePropertyRow,
    ImageRow,
    ImageTagRow,
)
from glint.db.session import WRITING
from glint.domain.digests import Digests
from glint.domain.errors import Conflict, InvalidInput
from glint.domain.image import Image, ImageStatus, Location, Member, MemberStatus, Visibility
from glint.domain.input_rules import json_text
from glint.domain.listing import Comparison, ImageQuery, with_tiebreakers
from glint.domain.visibility import Sight

IMAGE_COLUMNS = (
    "name", "disk_format", "container_format", "size", "virtual_size", "status", "visibility",
    "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "owner", "protected",
    "os_hidden", "created_at", "updated_at",
)

def _to_image(row: ImageRow) -> Image:
    return Image(
        id=row.id,
        name=row.name,
        disk_format=row.disk_format,
        container_format=row.container_format,
        size=row.size,
        virtual_size=row.virtual_size,
        status=ImageStatus(row.status),
        visibility=Visibility(row.visibility),
        checksum=row.checksum,
        os_hash_algo=row.os_hash_algo,
        os_hash_value=row.os_hash_value,
        min_disk=row.min_disk,
        min_ram=row.min_ram,
        owner=row.owner,
        protected=row.protected,
        os_hidden=row.os_hidden,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _attach_details(session: Session, images: Sequence[Image], *, everything: bool = True) -> None:
    """Load locations of `images` and, unless `everything` is False, their
    properties and tags, in one round trip (a UNION ALL of the three tables)."""
    if not images:
        return
    by_id = {image.id: image for image in images}
    ids = list(by_id)
    parts = [
        select(ImageLocationRow.image_id, literal("l").label("kind"),
               ImageLocationRow.url.label("first"), ImageLocationRow.store.label("second"),
               ImageLocationRow.meta_data.label("third"),
               ImageLocationRow.position.label("position"), ImageLocationRow.id.label("row"))
        .where(ImageLocationRow.image_id.in_(ids)),
    ]
    if everything:
        parts += [
            select(ImagePropertyRow.image_id, literal("p"), ImagePropertyRow.name,
                   ImagePropertyRow.value, literal(None, Text), literal(0), literal(0))
            .where(ImagePropertyRow.image_id.in_(ids)),
            select(ImageTagRow.image_id, literal("t"), ImageTagRow.value, literal(None, Text),
                   literal(None, Text), literal(0), literal(0))
            .where(ImageTagRow.image_id.in_(ids)),
        ]
    rows = session.execute(union_all(*parts)).all()
    for image_id, kind, first, second, third, _, _ in sorted(
        rows, key=lambda row: (row.position, row.row)
    ):
        image = by_id[image_id]
        if kind == "p":
            image.properties[first] = second
        elif kind == "t":
            image.tags.add(first)
        else:
            image.locations.append(Location(url=first, store=second, metadata=json.loads(third)))


def get_image(
    session: Session, image_id: str, *, for_update: bool = False, details: bool = True
) -> Image | None:
    """The live (not deleted) image with this id, or None. Locations are always
    loaded; properties and tags only with `details`.

    In a writing unit of work (or with `for_update`) the image's row is locked
    (SELECT ... FOR UPDATE) until the unit of work ends: a request that reads
    an image to change it waits for any other that does, and then reads what
    that one wrote, so no change is lost and no quota check races. (SQLite's
    writers already run one at a time.)
    """
    statement = select(ImageRow).where(ImageRow.id == image_id, ImageRow.deleted.is_(False))
    if for_update or session.info.get(WRITING):
        statement = statement.with_for_update()
    row = session.scalars(statement).one_or_none()
    if row is None:
        return None
    image = _to_image(row)
    _attach_details(session, [image], everything=details)
    return image


def insert_image(session: Session, image: Image) -> None:
    """Insert a new image; raises Conflict if the id is taken."""
    values = {column: getattr(image, column) for column in IMAGE_COLUMNS}
    session.add(ImageRow(id=image.id, deleted=False, **values))
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"An image with identifier {image.id} already exists") from exc
    session.add_all(ImagePropertyRow(image_id=image.id, name=name, value=value)
                    for name, value in image.properties.items())
    session.add_all(ImageTagRow(image_id=image.id, value=tag) for tag in image.tags)
    session.flush()


def save_image(
    session: Session, image: Image, *, expected_status: ImageStatus | None = None
) -> None:
    """Write back every column, property and tag of `image`.

    With `expected_status`, the write only happens if the stored status still
    is that one (a guarded update); otherwise Conflict is raised.
    """
    values = {column: getattr(image, column) for column in IMAGE_COLUMNS}
    statement = update(ImageRow).where(ImageRow.id == image.id, ImageRow.deleted.is_(False))
    if expected_status is not None:
        statement = statement.where(ImageRow.status == expected_status)
    if session.execute(statement.values(**values)).rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"Image {image.id} was changed by another request; try again")
    _replace_properties(session, image.id, image.properties)
    _replace_tags(session, image.id, image.tags)


def change_status(
    session: Session,
    image_id: str,
    current: ImageStatus | Iterable[ImageStatus],
    target: ImageStatus,
    when: datetime,
    **values: Any,
) -> bool:
    """Guarded status change: UPDATE ... WHERE status = current. False if it lost the race."""
    currents = [current] if isinstance(current, ImageStatus) else list(current)
    result = session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id, ImageRow.deleted.is_(False),
               ImageRow.status.in_([str(c) for c in currents]))
        .values(status=target, updated_at=when, **values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def activate(session: Session, image_id: str, current: ImageStatus, when: datetime,
             digests: Digests, virtual_size: int | None = None) -> bool:
    """The image active with its data's size and hashes; False if it was not `current`."""
    return change_status(session, image_id, current, ImageStatus.ACTIVE, when,
                         size=digests.size, virtual_size=virtual_size,
                         checksum=digests.checksum, os_hash_algo=digests.os_hash_algo,
                         os_hash_value=digests.os_hash_value)


def reset_to_queued(session: Session, image_id: str, current: ImageStatus,
                    when: datetime) -> bool:
    """The image queued again with no data (size, hashes cleared); False if it was
    not `current`."""
    return change_status(session, image_id, current, ImageStatus.QUEUED, when, size=None,
                         virtual_size=None, checksum=None, os_hash_algo=None,
                         os_hash_value=None)


def set_formats(session: Session, image_id: str, status: ImageStatus, when: datetime, *,
                disk_format: str | None, container_format: str | None) -> bool:
    """Set the image's disk and container formats while it stays `status`."""
    return change_status(session, image_id, status, status, when, disk_format=disk_format,
                         container_format=container_format)


def set_staged_size(session: Session, image_id: str, size: int, when: datetime) -> bool:
    """Record the size of an uploading image's staged data."""
    return change_status(session, image_id, ImageStatus.UPLOADING, ImageStatus.UPLOADING,
                         when, size=size)


def stalled_images(session: Session, status: ImageStatus, untouched_since: datetime) -> list[str]:
    """Ids of live images in `status` not updated since the given moment."""
    return list(session.scalars(
        select(ImageRow.id).where(ImageRow.deleted.is_(False), ImageRow.status == status,
                                  ImageRow.updated_at < untouched_since)
    ))


def mark_deleted(
    session: Session, image_id: str, when: datetime, *, unchanged_since: datetime,
    status: ImageStatus = ImageStatus.DELETED,
) -> bool:
    """Soft-delete the image if it was not updated after `unchanged_since`;
    False (and nothing done) otherwise. `status` is deleted, or pending_delete
    when the scrubber deletes the data later (delayed delete).

    Its properties, tags, members and locations stay, unreachable, beside the
    deleted row (as in Glance): one statement instead of five on this hot path.
    """
    result = session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id, ImageRow.deleted.is_(False),
               ImageRow.updated_at == unchanged_since)
        .values(status=status, deleted=True, deleted_at=when, updated_at=when)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _replace_properties(session: Session, image_id: str, properties: dict[str, str]) -> None:
    stored = dict(
        session.execute(
            select(ImagePropertyRow.name, ImagePropertyRow.value)
            .where(ImagePropertyRow.image_id == image_id)
        ).tuples().all()
    )
    gone = [name for name in stored if name not in properties]
    if gone:
        session.execute(
            delete(ImagePropertyRow)
            .where(ImagePropertyRow.image_id == image_id, ImagePropertyRow.name.in_(gone))
        )
    for name, value in properties.items():
        if name not in stored:
            session.add(ImagePropertyRow(image_id=image_id, name=name, value=value))
        elif stored[name] != value:
            session.execute(
                update(ImagePropertyRow)
                .where(ImagePropertyRow.image_id == image_id, ImagePropertyRow.name == name)
                .values(value=value)
            )
    session.flush()


def _replace_tags(session: Session, image_id: str, tags: set[str]) -> None:
    stored = set(
        session.scalars(select(ImageTagRow.value).where(ImageTagRow.image_id == image_id))
    )
    gone = stored - tags
    if gone:
        session.execute(
            delete(ImageTagRow).where(ImageTagRow.image_id == image_id, ImageTagRow.value.in_(gone))
        )
    for tag in tags - stored:
        session.add(ImageTagRow(image_id=image_id, value=tag))
    session.flush()


def add_tag(session: Session, image_id: str, tag: str) -> None:
    """Add one tag if absent (idempotent)."""
    if session.scalar(
        select(exists().where(ImageTagRow.image_id == image_id, ImageTagRow.value == tag))
    ):
        return
    session.add(ImageTagRow(image_id=image_id, value=tag))
    session.flush()


def remove_tag(session: Session, image_id: str, tag: str) -> bool:
    result = session.execute(
        delete(ImageTagRow).where(ImageTagRow.image_id == image_id, ImageTagRow.value == tag)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def touch(session: Session, image_id: str, when: datetime) -> None:
    session.execute(update(ImageRow).where(ImageRow.id == image_id).values(updated_at=when))


def images_using(session: Session, url: str) -> list[str]:
    """Ids of the live images with a location at `url`."""
    return list(session.scalars(
        select(ImageLocationRow.image_id)
        .join(ImageRow, ImageRow.id == ImageLocationRow.image_id)
        .where(ImageLocationRow.url == url, ImageRow.deleted.is_(False))
    ))


def set_locations(session: Session, image_id: str, locations: Sequence[Location]) -> None:
    session.execute(delete(ImageLocationRow).where(ImageLocationRow.image_id == image_id))
    # A copy removed takes the auditor's verdict on it along.
    audit_repo.forget_others(session, image_id, [location.url for location in locations])
    for position, location in enumerate(locations):
        session.add(ImageLocationRow(
            image_id=image_id, url=location.url, store=location.store,
            meta_data=json_text(f"The metadata of location {position}", location.metadata),
            position=position,
        ))
    session.flush()


# Members -------------------------------------------------------------------

def _to_member(row: ImageMemberRow) -> Member:
    return Member(
        image_id=row.image_id, member_id=row.member, status=MemberStatus(row.status),
        created_at=row.created_at, updated_at=row.updated_at,
    )


def get_member(session: Session, image_id: str, member_id: str) -> Member | None:
    row = session.scalars(
        select(ImageMemberRow)
        .where(ImageMemberRow.image_id == image_id, ImageMemberRow.member == member_id)
    ).one_or_none()
    return None if row is None else _to_member(row)


def list_members(session: Session, image_id: str) -> list[Member]:
    rows = session.scalars(
        select(ImageMemberRow).where(ImageMemberRow.image_id == image_id)
        .order_by(ImageMemberRow.created_at, ImageMemberRow.id)
    )
    return [_to_member(row) for row in rows]


def count_members(session: Session, image_id: str) -> int:
    return session.scalar(
        select(func.count()).select_from(ImageMemberRow).where(ImageMemberRow.image_id == image_id)
    ) or 0


def insert_member(session: Session, member: Member) -> None:
    session.add(ImageMemberRow(
        image_id=member.image_id, member=member.member_id, status=member.status,
        created_at=member.created_at, updated_at=member.updated_at,
    ))
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"Member {member.member_id} already has membership of image {member.image_id}"
        ) from exc


def update_member(session: Session, member: Member) -> None:
    session.execute(
        update(ImageMemberRow)
        .where(ImageMemberRow.image_id == member.image_id,
               ImageMemberRow.member == member.member_id)
        .values(status=member.status, updated_at=member.updated_at)
    )


def delete_member(session: Session, image_id: str, member_id: str) -> bool:
    result = session.execute(
        delete(ImageMemberRow)
        .where(ImageMemberRow.image_id == image_id, ImageMemberRow.member == member_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Listing -------------------------------------------------------------------

def _filters(query: ImageQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, values in query.one_of.items():
        attribute = getattr(ImageRow, column)
        conditions.append(attribute == values[0] if len(values) == 1 else attribute.in_(values))
    for column, value in query.equals.items():
        conditions.append(getattr(ImageRow, column) == value)
    if query.size_min is not None:
        conditions.append(ImageRow.size >= query.size_min)
    if query.size_max is not None:
        conditions.append(ImageRow.size <= query.size_max)
    for time_filter in query.times:
        attribute = getattr(ImageRow, time_filter.column)
        conditions.append({
            Comparison.EQ: attribute == time_filter.moment,
            Comparison.NEQ: attribute != time_filter.moment,
            Comparison.GT: attribute > time_filter.moment,
            Comparison.GTE: attribute >= time_filter.moment,
            Comparison.LT: attribute < time_filter.moment,
            Comparison.LTE: attribute <= time_filter.moment,
        }[time_filter.comparison])
    if query.properties:
        conditions.extend(_having_all(
            ImagePropertyRow, tuple_(ImagePropertyRow.name, ImagePropertyRow.value),
            list(query.properties.items()),
            lambda pair: and_(ImagePropertyRow.name == pair[0], ImagePropertyRow.value == pair[1]),
        ))
    if query.tags:
        conditions.extend(_having_all(
            ImageTagRow, ImageTagRow.value, sorted(set(query.tags)),
            lambda tag: ImageTagRow.value == tag,
        ))
    return conditions


def _having_all(row: type[ImagePropertyRow] | type[ImageTagRow], key: Any, wanted: list[Any],
                one: Callable[[Any], ColumnElement[bool]]) -> list[ColumnElement[bool]]:
    """Conditions that an image has every one of `wanted` (tags, or property
    name-value pairs; an image has each tag, and each property name, once).

    An EXISTS for the first one, which a planner can answer from an index
    either way: by walking the images in the listing's order and probing each
    (a common tag: the page is found after a few dozen images, however many
    there are) or from the tag's own index (a rare one). With several, also one
    correlated count of all of them, whatever their number: one EXISTS each
    made PostgreSQL plan for seconds past a few hundred, and one grouped
    `id IN (...)` subquery reads every image having any of them (150-860 ms
    for os_distro=ubuntu at 50,000 images, bench/scale.py).
    """
    conditions: list[ColumnElement[bool]] = [
        exists().where(row.image_id == ImageRow.id, one(wanted[0]))]
    if len(wanted) > 1:
        matching = (select(func.count()).select_from(row)
                    .where(row.image_id == ImageRow.id, key.in_(wanted)).scalar_subquery())
        conditions.append(matching == len(wanted))
    return conditions


def list_images(session: Session, query: ImageQuery, sight: Sight) -> list[Image]:
    """One page of the images matching `query` among those the caller sees
    (`sight`), as its list shows them (Sight.listed; the query's shape:
    db/listing_sql.py).

    Raises InvalidInput when the marker is not an image the caller sees.
    """
    conditions = [ImageRow.deleted == false(), ImageRow.status != ImageStatus.KILLED]
    conditions.extend(_filters(query))
    keys = with_tiebreakers(query.sort)
    if query.marker is not None:
        marker = session.scalars(
            select(ImageRow).where(ImageRow.id == query.marker, ImageRow.deleted.is_(False),
                                   listing_sql.visible(sight))
        ).one_or_none()
        if marker is None:
            raise InvalidInput(f"Invalid marker. Image {query.marker} could not be found.")
        nulls_low = listing_sql.nulls_sort_low(session.get_bind().dialect.name)
        conditions.append(listing_sql.after_marker(keys, marker, nulls_low))
    scopes = listing_sql.scopes(sight.listed(query.visibility, query.member_status))
    if query.limit == 0 or not scopes:
        return []
    rows = session.scalars(listing_sql.page(conditions, scopes, keys, query.limit))
    images = [_to_image(row) for row in rows]
    _attach_details(session, images)
    return images
