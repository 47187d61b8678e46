"""Reading and writing metadata definitions. No authorization lives here:
callers pass the caller's project only to shape the namespace list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glint.db.models import (
    MetadefAssociationRow,
    MetadefNamespaceRow,
    MetadefObjectRow,
    MetadefPropertyRow,
    MetadefResourceTypeRow,
    MetadefTagRow,
)
from glint.domain.errors import Conflict, NotFound
from glint.domain.metadefs import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceContents,
    NamespaceQuery,
    NamespaceVisibility,
    PropertyDefinition,
    ResourceType,
    SortDirection,
    Tag,
    TagQuery,
)

CHILD_TABLES = (MetadefPropertyRow, MetadefObjectRow, MetadefTagRow, MetadefAssociationRow)


def _flush(session: Session, conflict: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


# Namespaces -----------------------------------------------------------------

def to_namespace(row: MetadefNamespaceRow) -> Namespace:
    return Namespace(
        namespace=row.namespace, display_name=row.display_name, description=row.description,
        visibility=NamespaceVisibility(row.visibility), protected=row.protected, owner=row.owner,
        created_at=row.created_at, updated_at=row.updated_at,
    )


def namespace_row(session: Session, name: str) -> MetadefNamespaceRow | None:
    return session.scalars(
        select(MetadefNamespaceRow).where(MetadefNamespaceRow.namespace == name)
    ).one_or_none()


def _duplicate_namespace(name: str) -> str:
    return f"A metadata definition namespace with name={name} already exists."


def insert_namespace(session: Session, namespace: Namespace) -> int:
    """Insert a namespace and return its row id; Conflict if the name is taken."""
    row = MetadefNamespaceRow(
        namespace=namespace.namespace, display_name=namespace.display_name,
        description=namespace.description, visibility=namespace.visibility,
        protected=namespace.protected, owner=namespace.owner,
        created_at=namespace.created_at, updated_at=namespace.updated_at,
    )
    session.add(row)
    _flush(session, _duplicate_namespace(namespace.namespace))
    return row.id


def save_namespace(session: Session, namespace_id: int, namespace: Namespace) -> None:
    """Write back every column (a rename included); Conflict if the new name is taken."""
    clash = session.scalar(select(MetadefNamespaceRow.id).where(
        MetadefNamespaceRow.namespace == namespace.namespace, MetadefNamespaceRow.id != namespace_id,
    ))
    if clash is not None:
        raise Conflict(_duplicate_namespace(namespace.namespace))
    session.execute(update(MetadefNamespaceRow).where(MetadefNamespaceRow.id == namespace_id).values(
        namespace=namespace.namespace, display_name=namespace.display_name,
        description=namespace.description, visibility=namespace.visibility,
        protected=namespace.protected, owner=namespace.owner, updated_at=namespace.updated_at,
    ))
    _flush(session, _duplicate_namespace(namespace.namespace))


def delete_namespace(session: Session, namespace_id: int) -> None:
    """Remove the namespace and everything in it (resource types stay)."""
    for table in CHILD_TABLES:
        session.execute(delete(table).where(table.namespace_id == namespace_id))
    session.execute(delete(MetadefNamespaceRow).where(MetadefNamespaceRow.id == namespace_id))


def _sort_column(key: str) -> Any:
    column = getattr(MetadefNamespaceRow, key)
    if key in ("display_name", "owner"):
        return func.coalesce(column, "")
    return column


def _after(marker: MetadefNamespaceRow, key: str, direction: SortDirection) -> ColumnElement[bool]:
    column = _sort_column(key)
    value = getattr(marker, key)
    if key in ("display_name", "owner") and value is None:
        value = ""
    if direction == SortDirection.DESC:
        return or_(column < value, and_(column == value, MetadefNamespaceRow.id < marker.id))
    return or_(column > value, and_(column == value, MetadefNamespaceRow.id > marker.id))


def list_namespaces(
    session: Session, query: NamespaceQuery, *, project_id: str | None, is_admin: bool
) -> list[NamespaceContents]:
    """One page of namespaces the caller may list, each with its resource-type
    associations (the rest of the contents left empty); NotFound for an unknown marker."""
    conditions: list[ColumnElement[bool]] = []
    if not is_admin:
        visible = MetadefNamespaceRow.visibility == NamespaceVisibility.PUBLIC
        if project_id is not None:
            visible = or_(visible, MetadefNamespaceRow.owner == project_id)
        conditions.append(visible)
    if query.visibility is not None:
        conditions.append(MetadefNamespaceRow.visibility == query.visibility)
    if query.resource_types:
        conditions.append(MetadefNamespaceRow.id.in_(
            select(MetadefAssociationRow.namespace_id)
            .join(MetadefResourceTypeRow,
                  MetadefResourceTypeRow.id == MetadefAssociationRow.resource_type_id)
            .where(MetadefResourceTypeRow.name.in_(query.resource_types))
        ))
    if query.marker is not None:
        marker = session.scalars(
            select(MetadefNamespaceRow).where(MetadefNamespaceRow.namespace == query.marker, *conditions)
        ).one_or_none()
        if marker is None:
            raise NotFound(f"Metadata definition namespace={query.marker} was not found.")
        conditions.append(_after(marker, query.sort_key, query.sort_dir))
    if query.limit == 0:
        return []
    column = _sort_column(query.sort_key)
    order = ([column.desc(), MetadefNamespaceRow.id.desc()] if query.sort_dir == SortDirection.DESC
             else [column.asc(), MetadefNamespaceRow.id.asc()])
    rows = list(session.scalars(
        select(MetadefNamespaceRow).where(*conditions).order_by(*order).limit(query.limit)
    ))
    found = associations(session, [row.id for row in rows])
    return [NamespaceContents(to_namespace(row), associations=found.get(row.id, [])) for row in rows]


def all_namespace_rows(session: Session) -> list[MetadefNamespaceRow]:
    return list(session.scalars(select(MetadefNamespaceRow).order_by(MetadefNamespaceRow.id)))


def contents(session: Session, row: MetadefNamespaceRow) -> NamespaceContents:
    return NamespaceContents(
        namespace=to_namespace(row),
        associations=associations(session, [row.id]).get(row.id, []),
        properties=list_properties(session, row.id),
        objects=list_objects(session, row.id),
        tags=list_tags(session, row.id, TagQuery(sort_key="id", sort_dir=SortDirection.ASC)),
    )


# Resource types and associations ---------------------------------------------

def list_resource_types(session: Session) -> list[ResourceType]:
    rows = session.scalars(select(MetadefResourceTypeRow).order_by(MetadefResourceTypeRow.name))
    return [ResourceType(r.name, r.protected, r.created_at, r.updated_at) for r in rows]


def resource_type_id(session: Session, name: str, when: datetime, *, protected: bool = False) -> int:
    """The id of the resource type called `name`, created if unknown."""
    found = session.scalar(select(MetadefResourceTypeRow.id).where(MetadefResourceTypeRow.name == name))
    if found is not None:
        return found
    row = MetadefResourceTypeRow(name=name, protected=protected, created_at=when, updated_at=when)
    session.add(row)
    _flush(session, f"A resource type with name={name} already exists.")
    return row.id


def associations(session: Session, namespace_ids: Sequence[int]) -> dict[int, list[Association]]:
    """Associations of each namespace, in the order they were made."""
    found: dict[int, list[Association]] = {}
    if not namespace_ids:
        return found
    rows = session.execute(
        select(MetadefAssociationRow, MetadefResourceTypeRow.name)
        .join(MetadefResourceTypeRow,
              MetadefResourceTypeRow.id == MetadefAssociationRow.resource_type_id)
        .where(MetadefAssociationRow.namespace_id.in_(namespace_ids))
        .order_by(MetadefAssociationRow.id)
    ).tuples()
    for row, name in rows:
        found.setdefault(row.namespace_id, []).append(Association(
            name=name, prefix=row.prefix, properties_target=row.properties_target,
            created_at=row.created_at, updated_at=row.updated_at,
        ))
    return found


def insert_association(session: Session, namespace_id: int, association: Association) -> None:
    """Associate the namespace with a resource type (created if unknown); Conflict if it is."""
    type_id = resource_type_id(session, association.name, association.created_at)
    exists = session.scalar(select(MetadefAssociationRow.id).where(
        MetadefAssociationRow.namespace_id == namespace_id,
        MetadefAssociationRow.resource_type_id == type_id,
    ))
    conflict = f"The resource type {association.name} is already associated with this namespace."
    if exists is not None:
        raise Conflict(conflict)
    session.add(MetadefAssociationRow(
        namespace_id=namespace_id, resource_type_id=type_id, prefix=association.prefix,
        properties_target=association.properties_target,
        created_at=association.created_at, updated_at=association.updated_at,
    ))
    _flush(session, conflict)


def save_association(session: Session, namespace_id: int, association: Association) -> None:
    type_id = resource_type_id(session, association.name, association.created_at)
    session.execute(update(MetadefAssociationRow).where(
        MetadefAssociationRow.namespace_id == namespace_id,
        MetadefAssociationRow.resource_type_id == type_id,
    ).values(prefix=association.prefix, properties_target=association.properties_target,
             updated_at=association.updated_at))


def delete_association(session: Session, namespace_id: int, name: str) -> bool:
    type_id = session.scalar(select(MetadefResourceTypeRow.id).where(MetadefResourceTypeRow.name == name))
    if type_id is None:
        return False
    result = session.execute(delete(MetadefAssociationRow).where(
        MetadefAssociationRow.namespace_id == namespace_id,
        MetadefAssociationRow.resource_type_id == type_id,
    ))
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
    return {
        "name": obj.name, "description": obj.description,
        "required": json.dumps(obj.required) if obj.required else None,
        "json_schema": json.dumps(obj.properties), "updated_at": obj.updated_at,
    }


def insert_object(session: Session, namespace_id: int, obj: MetadefObject) -> None:
    session.add(MetadefObjectRow(namespace_id=namespace_id, created_at=obj.created_at,
                                 **_object_values(obj)))
    _flush(session, f"A metadata definition object with name={obj.name} already exists "
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
        namespace_id=namespace_id, name=prop.name, json_schema=json.dumps(prop.definition),
        created_at=prop.created_at, updated_at=prop.updated_at,
    ))
    _flush(session, _duplicate_property(prop.name))


def save_property(session: Session, namespace_id: int, old_name: str, prop: PropertyDefinition) -> None:
    if prop.name != old_name and _property_row(session, namespace_id, prop.name) is not None:
        raise Conflict(_duplicate_property(prop.name))
    session.execute(update(MetadefPropertyRow).where(
        MetadefPropertyRow.namespace_id == namespace_id, MetadefPropertyRow.name == old_name,
    ).values(name=prop.name, json_schema=json.dumps(prop.definition), updated_at=prop.updated_at))


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
        _flush(session, _duplicate_tag(tag.name))


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


# Whole catalogue -------------------------------------------------------------

def delete_everything(session: Session) -> None:
    for table in (*CHILD_TABLES, MetadefNamespaceRow, MetadefResourceTypeRow):
        session.execute(delete(table))


def definitions_for(session: Session, resource_type: str) -> list[tuple[str | None, NamespaceContents]]:
    """(prefix, contents) of every namespace associated with `resource_type`."""
    rows = session.execute(
        select(MetadefNamespaceRow, MetadefAssociationRow.prefix)
        .join(MetadefAssociationRow, MetadefAssociationRow.namespace_id == MetadefNamespaceRow.id)
        .join(MetadefResourceTypeRow,
              MetadefResourceTypeRow.id == MetadefAssociationRow.resource_type_id)
        .where(MetadefResourceTypeRow.name == resource_type)
    ).tuples().all()
    return [(prefix, NamespaceContents(
        namespace=to_namespace(row), properties=list_properties(session, row.id),
        objects=list_objects(session, row.id),
    )) for row, prefix in rows]
