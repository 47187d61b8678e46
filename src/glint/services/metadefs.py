"""Metadata definition use cases: namespaces and resource-type associations.

Objects, properties and tags live in `metadef_contents`. Bodies arrive
checked against the metadef schema documents by the HTTP edge; these
functions authorize, apply Glint's extra rules, and save. Each is one unit
of work and synchronous (the HTTP layer runs it in a worker thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from glint.db import metadef_content_repositories as content_repo
from glint.db import metadef_repositories as repo
from glint.db.models import MetadefNamespaceRow
from glint.db.session import Database
from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.metadef_policy import READ_NAMESPACE, MetadefPolicy, namespace_sight
from glint.domain.metadefs import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceContents,
    NamespaceQuery,
    NamespaceVisibility,
    PropertyDefinition,
    ResourceType,
    Tag,
    check_name,
    check_pattern,
    check_unique,
    clean_definition,
    prefixed,
)
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.settings import NotificationSettings


def load_namespace(session: Session, policy: MetadefPolicy, ctx: RequestContext, name: str,
                   action: str = READ_NAMESPACE) -> MetadefNamespaceRow:
    """The namespace row if the caller may take `action` on it: NotFound if
    it may not read it, Forbidden if it may read it but not do that."""
    row = repo.namespace_row(session, name)
    policy.enforce(ctx, action, None if row is None else repo.to_namespace(row), name)
    assert row is not None
    return row


def refuse_if_protected(row: MetadefNamespaceRow, what: str) -> None:
    if row.protected:
        raise Forbidden(f"Namespace {row.namespace} is protected: its {what} cannot be deleted.")


def definitions_from(body: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Property definitions of a body, keeping only the keys a definition has."""
    definitions: dict[str, dict[str, Any]] = {}
    for name, value in (body or {}).items():
        check_name("property", name)
        definitions[name] = clean_definition(value)
        check_pattern(definitions[name], f"{where} property {name}")
    return definitions


def object_from(body: dict[str, Any]) -> MetadefObject:
    moment = now()
    name = check_name("object", body.get("name"))
    return MetadefObject(
        name=name, created_at=moment, updated_at=moment, description=body.get("description"),
        required=list(body.get("required") or []),
        properties=definitions_from(body.get("properties") or {}, f"object {name}"),
    )


@dataclass
class MetadefServices:
    db: Database
    policy: MetadefPolicy
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))

    # Namespaces ------------------------------------------------------------

    def list_namespaces(self, ctx: RequestContext, query: NamespaceQuery) -> list[NamespaceContents]:
        """One page of namespaces with their associations."""
        self.policy.enforce_list(ctx, "get_metadef_namespaces")
        with self.db.reading() as session:
            return repo.list_namespaces(session, query, namespace_sight(ctx))

    def create_namespace(self, ctx: RequestContext, body: dict[str, Any]) -> NamespaceContents:
        """Create a namespace with any associations, properties, objects and tags it names."""
        self.policy.enforce_list(ctx, "add_metadef_namespace")
        moment = now()
        namespace = Namespace(
            namespace=check_name("namespace", body.get("namespace")),
            display_name=body.get("display_name"), description=body.get("description"),
            visibility=NamespaceVisibility(body.get("visibility") or "private"),
            protected=bool(body.get("protected", False)),
            owner=body.get("owner") or ctx.project_id, created_at=moment, updated_at=moment,
        )
        properties = definitions_from(body.get("properties") or {}, "namespace")
        objects = [object_from(item) for item in body.get("objects") or []]
        check_unique("object", [o.name for o in objects])
        tag_names = check_unique("tag", [check_name("tag", t.get("name"))
                                         for t in body.get("tags") or []])
        with self.db.writing() as session:
            namespace_id = repo.insert_namespace(session, namespace)
            for item in body.get("resource_type_associations") or []:
                repo.insert_association(session, namespace_id, Association(
                    name=check_name("resource type", item.get("name")), prefix=item.get("prefix"),
                    properties_target=item.get("properties_target"),
                    created_at=moment, updated_at=moment,
                ))
            for name, definition in properties.items():
                content_repo.insert_property(session, namespace_id,
                                     PropertyDefinition(name, definition, moment, moment))
            for obj in objects:
                content_repo.insert_object(session, namespace_id, obj)
            content_repo.insert_tags(session, namespace_id, [Tag(n, moment, moment) for n in tag_names])
            row = repo.namespace_row(session, namespace.namespace)
            assert row is not None
            created = repo.contents(session, row)
        self._created(created)
        return created

    def _created(self, created: NamespaceContents) -> None:
        """A new namespace's notifications, in Glance's order."""
        name = created.namespace.namespace
        self.events.emit("metadef_namespace.create", lambda: payloads.namespace(created.namespace))
        for association in created.associations:
            self.events.emit("metadef_resource_type.create",
                             partial(payloads.resource_type, name, association))
        for obj in created.objects:
            self.events.emit("metadef_object.create",
                             partial(payloads.metadef_object, name, obj))
        for tag in created.tags:
            self.events.emit("metadef_tag.create",
                             partial(payloads.metadef_tag, name, tag))
        for prop in created.properties:
            self.events.emit("metadef_property.create",
                             partial(payloads.metadef_property, name, prop))

    def show_namespace(
        self, ctx: RequestContext, name: str, resource_type: str | None = None
    ) -> NamespaceContents:
        with self.db.reading() as session:
            found = repo.contents(session, load_namespace(session, self.policy, ctx, name))
        return prefixed(found, resource_type) if resource_type else found

    def update_namespace(self, ctx: RequestContext, name: str, body: dict[str, Any]) -> Namespace:
        """Replace the namespace's own fields (PUT); omitted ones go back to their defaults."""
        with self.db.writing() as session:
            row = load_namespace(session, self.policy, ctx, name, "modify_metadef_namespace")
            namespace = Namespace(
                namespace=check_name("namespace", body.get("namespace")),
                display_name=body.get("display_name"), description=body.get("description"),
                visibility=NamespaceVisibility(body.get("visibility") or "private"),
                protected=bool(body.get("protected") or False),
                owner=body.get("owner") or ctx.project_id,
                created_at=row.created_at, updated_at=now(),
            )
            old_name = row.namespace
            repo.save_namespace(session, row.id, namespace)
        self.events.emit("metadef_namespace.update",
                         lambda: payloads.namespace(namespace, old_name=old_name))
        return namespace

    def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        with self.db.writing() as session:
            row = load_namespace(session, self.policy, ctx, name, "delete_metadef_namespace")
            if row.protected:
                raise Forbidden(f"Namespace {name} is protected and cannot be deleted.")
            namespace = repo.to_namespace(row)
            repo.delete_namespace(session, row.id)
        deleted_at = now()
        self.events.emit("metadef_namespace.delete", lambda: payloads.deleted(
            payloads.namespace(namespace), deleted_at))

    # Resource types --------------------------------------------------------

    def list_resource_types(self, ctx: RequestContext) -> list[ResourceType]:
        self.policy.enforce_list(ctx, "list_metadef_resource_types")
        with self.db.reading() as session:
            return repo.list_resource_types(session)

    def list_associations(self, ctx: RequestContext, name: str) -> list[Association]:
        with self.db.reading() as session:
            row = load_namespace(session, self.policy, ctx, name, "get_metadef_resource_type")
            return repo.associations(session, [row.id]).get(row.id, [])

    def associate(self, ctx: RequestContext, name: str, body: dict[str, Any]) -> Association:
        """Associate a namespace with a resource type, creating an unknown type."""
        moment = now()
        association = Association(
            name=check_name("resource type", body.get("name")), prefix=body.get("prefix"),
            properties_target=body.get("properties_target"), created_at=moment, updated_at=moment,
        )
        with self.db.writing() as session:
            row = load_namespace(session, self.policy, ctx, name, "add_metadef_resource_type_association")
            repo.insert_association(session, row.id, association)
        self.events.emit("metadef_resource_type.create",
                         lambda: payloads.resource_type(name, association))
        return association

    def deassociate(self, ctx: RequestContext, name: str, resource_type: str) -> None:
        with self.db.writing() as session:
            row = load_namespace(session, self.policy, ctx, name, "remove_metadef_resource_type_association")
            refuse_if_protected(row, "resource type associations")
            found = next((a for a in repo.associations(session, [row.id]).get(row.id, [])
                          if a.name == resource_type), None)
            if found is None or not repo.delete_association(session, row.id, resource_type):
                raise NotFound(f"Failed to find resource type {resource_type} to delete")
        deleted_at = now()
        self.events.emit("metadef_resource_type.delete", lambda: payloads.deleted(
            payloads.resource_type(name, found), deleted_at))
