"""Reading and writing a namespace's objects, properties and tags. No
authorization lives here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glint.db.models import MetadefObjectRow, MetadefPropertyRow, MetadefTagRow
from glint.domain.errors import Conflict, NotFound
from glint.domain.input_rules import check_text_size, json_text
from glint.domain.metadefs import MetadefObject, PropertyDefinition, SortDirection, Tag, TagQuery


def flush_or_conflict(session: Session, conflict: str) -> None:
    """Flush, turning a unique-constraint violation into Conflict(`conflict`)."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


# Objects -------------------------------------------------------------------

def _to_object(row: MetadefObjectRow) -> MetadefObject:
    return MetadefObject(
        name=row.name, description=row.description, created_at=row.created_at,
        updated_at=row.updated_at, required=json.loads(row.required) if row.required else [],
        properties=json.loads(row.json_schema) if row.json_schema else {},
    )


def list_objects(session: Session, namespace_id: int) -> list[MetadefObject]:
    rows = session.scalars(
        select(MetadefObjectRow).where(MetadefObjectRow.namespace_id == namespace_id)
        .order_by(MetadefObjectRow.id)
    )
    return [_to_object(row) for row in rows]


def _object_row(session: Session, namespace_id: int, name: str) -> MetadefObjectRow | None:
    return session.scalars(select(MetadefObjectRow).where(
        MetadefObjectRow.namespace_id == namespace_id, MetadefObjectRow.name == name,
    )).one_or_none()


def get_object(session: Session, namespace_id: int, name: str) -> MetadefObject | None:
    row = _object_row(session, namespace_id, name)
    return None if row is None else _to_object(row)


def _object_values(obj: MetadefObject) -> dict[str, Any]:
    """The object's columns; InvalidInput when a text passes what every database's
    text column holds (glint.domain.input_rules)."""
    what = f"Object {obj.name}"
    if obj.description is not None:
        check_text_size(f"{what}'s description", obj.description)
    return {
        "name": obj.name, "description": obj.description,
        "required": json_text(f"{what}'s required list", obj.required) if obj.required else None,
        "json_schema": json_text(f"{what}'s properties", obj.properties),
        "updated_at": obj.updated_at,
    }


def insert_object(session: Session, namespace_id: int, obj: MetadefObject) -> None:
    session.add(MetadefObjectRow(namespace_id=namespace_id, created_at=obj.created_at,
                                 **_object_values(obj)))
    flush_or_conflict(session, f"A metadata definition object with name={obj.name} already exists "
                    "in this namespace.")


def save_object(session: Session, namespace_id: int, old_name: str, obj: MetadefObject) -> None:
    if obj.name != old_name and _object_row(session, namespace_id, obj.name) is not None:
        raise Conflict(f"A metadata definition object with name={obj.name} already exists "
                       "in this namespace.")
    session.execute(update(MetadefObjectRow).where(
        MetadefObjectRow.namespace_id == namespace_id, MetadefObjectRow.name == old_name,
    ).values(**_object_values(obj)))


def delete_object(session: Session, namespace_id: int, name: str) -> bool:
    result = session.execute(delete(MetadefObjectRow).where(
        MetadefObjectRow.namespace_id == namespace_id, MetadefObjectRow.name == name,
    ))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Properties ----------------------------------------------------------------

def _to_property(row: MetadefPropertyRow) -> PropertyDefinition:
    return PropertyDefinition(row.name, json.loads(row.json_schema), row.created_at, row.updated_at)


def list_properties(session: Session, namespace_id: int) -> list[PropertyDefinition]:
    rows = session.scalars(
        select(MetadefPropertyRow).where(MetadefPropertyRow.namespace_id == namespace_id)
        .order_by(MetadefPropertyRow.id)
    )
    return [_to_property(row) for row in rows]


def _property_row(session: Session, namespace_id: int, name: str) -> MetadefPropertyRow | None:
    return session.scalars(select(MetadefPropertyRow).where(
        MetadefPropertyRow.namespace_id == namespace_id, MetadefPropertyRow.name == name,
    )).one_or_none()


def get_property(session: Session, namespace_id: int, name: str) -> PropertyDefinition | None:
    row = _property_row(session, namespace_id, name)
    return None if row is None else _to_property(row)


def _duplicate_property(name: str) -> str:
    return f"A metadata definition property with name={name} already exists in this namespace."


def insert_property(session: Session, namespace_id: int, prop: PropertyDefinition) -> None:
    session.add(MetadefPropertyRow(
        namespace_id=namespace_id, name=prop.name, json_schema=_definition_text(prop),
        created_at=prop.created_at, updated_at=prop.updated_at,
    ))
    flush_or_conflict(session, _duplicate_property(prop.name))


def save_property(session: Session, namespace_id: int, old_name: str, prop: PropertyDefinition) -> None:
    if prop.name != old_name and _property_row(session, namespace_id, prop.name) is not None:
        raise Conflict(_duplicate_property(prop.name))
    session.execute(update(MetadefPropertyRow).where(
        MetadefPropertyRow.namespace_id == namespace_id, MetadefPropertyRow.name == old_name,
    ).values(name=prop.name, json_schema=_definition_text(prop), updated_at=prop.updated_at))


def _definition_text(prop: PropertyDefinition) -> str:
    return json_text(f"Property {prop.name}'s definition", prop.definition)


def delete_property(session: Session, namespace_id: int, name: str) -> bool:
    result = session.execute(delete(MetadefPropertyRow).where(
        MetadefPropertyRow.namespace_id == namespace_id, MetadefPropertyRow.name == name,
    ))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Tags ----------------------------------------------------------------------

def _to_tag(row: MetadefTagRow) -> Tag:
    return Tag(row.name, row.created_at, row.updated_at)


def _tag_row(session: Session, namespace_id: int, name: str) -> MetadefTagRow | None:
    return session.scalars(select(MetadefTagRow).where(
        MetadefTagRow.namespace_id == namespace_id, MetadefTagRow.name == name,
    )).one_or_none()


def get_tag(session: Session, namespace_id: int, name: str) -> Tag | None:
    row = _tag_row(session, namespace_id, name)
    return None if row is None else _to_tag(row)


def list_tags(session: Session, namespace_id: int, query: TagQuery) -> list[Tag]:
    """Tags of a namespace in the query's order; NotFound for an unknown marker."""
    column = getattr(MetadefTagRow, query.sort_key)
    conditions: list[ColumnElement[bool]] = [MetadefTagRow.namespace_id == namespace_id]
    descending = query.sort_dir == SortDirection.DESC
    if query.marker is not None:
        marker = _tag_row(session, namespace_id, query.marker)
        if marker is None:
            raise NotFound(f"Metadata tag {query.marker} was not found in this namespace.")
        value = getattr(marker, query.sort_key)
        if descending:
            conditions.append(or_(column < value, and_(column == value, MetadefTagRow.id < marker.id)))
        else:
            conditions.append(or_(column > value, and_(column == value, MetadefTagRow.id > marker.id)))
    order = [column.desc(), MetadefTagRow.id.desc()] if descending else [column.asc(), MetadefTagRow.id.asc()]
    statement = select(MetadefTagRow).where(*conditions).order_by(*order)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    return [_to_tag(row) for row in session.scalars(statement)]


def _duplicate_tag(name: str) -> str:
    return f"A metadata tag with name={name} already exists in this namespace."


def insert_tags(session: Session, namespace_id: int, tags: Sequence[Tag]) -> None:
    """Insert tags; Conflict if any is already in the namespace."""
    for tag in tags:
        if _tag_row(session, namespace_id, tag.name) is not None:
            raise Conflict(_duplicate_tag(tag.name))
        session.add(MetadefTagRow(namespace_id=namespace_id, name=tag.name,
                                  created_at=tag.created_at, updated_at=tag.updated_at))
        flush_or_conflict(session, _duplicate_tag(tag.name))


def save_tag(session: Session, namespace_id: int, old_name: str, name: str, when: datetime) -> None:
    if name != old_name and _tag_row(session, namespace_id, name) is not None:
        raise Conflict(_duplicate_tag(name))
    session.execute(update(MetadefTagRow).where(
        MetadefTagRow.namespace_id == namespace_id, MetadefTagRow.name == old_name,
    ).values(name=name, updated_at=when))


def delete_tag(session: Session, namespace_id: int, name: str) -> bool:
    result = session.execute(delete(MetadefTagRow).where(
        MetadefTagRow.namespace_id == namespace_id, MetadefTagRow.name == name,
    ))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_children(session: Session, namespace_id: int, table: type[Any]) -> None:
    """Remove every object, property or tag (by table) of a namespace."""
    session.execute(delete(table).where(table.namespace_id == namespace_id))
