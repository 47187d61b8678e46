"""Reading and writing metadata definitions. No authorization lives here:
callers pass the caller's project only to shape the namespace list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from glint.db.metadef_content_repositories import (
    flush_or_conflict,
    list_objects,
    list_properties,
    list_tags,
)
from glint.db.models import (
    MetadefAssociationRow,
    MetadefNamespaceRow,
    MetadefObjectRow,
    MetadefPropertyRow,
    MetadefResourceTypeRow,
    MetadefTagRow,
)
from glint.domain.errors import Conflict, NotFound
from glint.domain.metadef_policy import NamespaceSight
from glint.domain.metadefs import (
    Association,
    Namespace,
    NamespaceContents,
    NamespaceQuery,
    NamespaceVisibility,
    ResourceType,
    SortDirection,
    TagQuery,
)

CHILD_TABLES = (MetadefPropertyRow, MetadefObjectRow, MetadefTagRow, MetadefAssociationRow)


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
    flush_or_conflict(session, _duplicate_namespace(namespace.namespace))
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
    flush_or_conflict(session, _duplicate_namespace(namespace.namespace))


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


def _seen(sight: NamespaceSight) -> list[ColumnElement[bool]]:
    """`sight` (NamespaceSight.admits) as SQL conditions."""
    if sight.everything:
        return []
    public = MetadefNamespaceRow.visibility == NamespaceVisibility.PUBLIC
    if sight.project is None:
        return [public]
    return [or_(public, MetadefNamespaceRow.owner == sight.project)]


def list_namespaces(
    session: Session, query: NamespaceQuery, sight: NamespaceSight
) -> list[NamespaceContents]:
    """One page of the namespaces `sight` sees, each with its resource-type
    associations (the rest of the contents left empty); NotFound for an unknown marker."""
    conditions = _seen(sight)
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
    flush_or_conflict(session, f"A resource type with name={name} already exists.")
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
    flush_or_conflict(session, conflict)


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
