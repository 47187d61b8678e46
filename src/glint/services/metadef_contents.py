"""Metadata definition use cases inside one namespace: objects, properties, tags.

Reading needs read access to the namespace (else 404); writing also needs
metadef_admin (else 403); deleting from a protected namespace is 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from glint.db import metadef_content_repositories as content_repo
from glint.db import metadef_repositories as repo
from glint.db.models import MetadefNamespaceRow, MetadefObjectRow, MetadefPropertyRow, MetadefTagRow
from glint.db.session import Database
from glint.domain.context import RequestContext
from glint.domain.errors import NotFound
from glint.domain.metadef_policy import MetadefPolicy
from glint.domain.metadefs import (
    MetadefObject,
    PropertyDefinition,
    Tag,
    TagQuery,
    check_name,
    check_pattern,
    check_unique,
    clean_definition,
    unprefixed,
)
from glint.events import payloads
from glint.events.publisher import Publisher
from glint.services.clock import now
from glint.services.metadefs import (
    load_namespace,
    object_from,
    refuse_if_protected,
)
from glint.settings import NotificationSettings

# Glance checks deleting every object or property as deleting the namespace.
DELETE_ALL_RULES = {"objects": "delete_metadef_namespace",
                    "properties": "delete_metadef_namespace", "tags": "delete_metadef_tags"}
CHILD_TABLES = {"objects": MetadefObjectRow, "properties": MetadefPropertyRow, "tags": MetadefTagRow}


def _missing(kind: str, name: str, namespace: str) -> NotFound:
    return NotFound(f"Metadata definition {kind} not found for namespace={namespace} "
                    f"and {kind} name={name}")


def property_from(body: dict[str, Any]) -> PropertyDefinition:
    moment = now()
    name = check_name("property", body.get("name"))
    definition = clean_definition(body)
    check_pattern(definition, f"property {name}")
    return PropertyDefinition(name, definition, moment, moment)


@dataclass
class MetadefContentServices:
    db: Database
    policy: MetadefPolicy
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))

    def _load(self, session: Session, ctx: RequestContext, namespace: str,
              action: str) -> MetadefNamespaceRow:
        return load_namespace(session, self.policy, ctx, namespace, action)

    def delete_all(self, ctx: RequestContext, namespace: str, kind: str) -> None:
        """Remove every object, property or tag (`kind`) of a namespace."""
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, DELETE_ALL_RULES[kind])
            refuse_if_protected(row, kind)
            content_repo.delete_children(session, row.id, CHILD_TABLES[kind])
            emptied = repo.to_namespace(row)
        self.events.emit(f"metadef_namespace.delete_{kind}", lambda: payloads.namespace(emptied))

    # Objects ---------------------------------------------------------------

    def list_objects(self, ctx: RequestContext, namespace: str) -> list[MetadefObject]:
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_objects")
            return content_repo.list_objects(session, row.id)

    def show_object(self, ctx: RequestContext, namespace: str, name: str) -> MetadefObject:
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_object")
            found = content_repo.get_object(session, row.id, name)
        if found is None:
            raise _missing("object", name, namespace)
        return found

    def create_object(self, ctx: RequestContext, namespace: str, body: dict[str, Any]) -> MetadefObject:
        obj = object_from(body)
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "add_metadef_object")
            content_repo.insert_object(session, row.id, obj)
        self.events.emit("metadef_object.create", lambda: payloads.metadef_object(namespace, obj))
        return obj

    def update_object(self, ctx: RequestContext, namespace: str, name: str,
                      body: dict[str, Any]) -> MetadefObject:
        """Replace an object (PUT), a rename included."""
        replacement = object_from(body)
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "modify_metadef_object")
            current = content_repo.get_object(session, row.id, name)
            if current is None:
                raise _missing("object", name, namespace)
            replacement.created_at = current.created_at
            content_repo.save_object(session, row.id, name, replacement)
        self.events.emit("metadef_object.update", lambda: payloads.metadef_object(
            namespace, replacement, old_name=name))
        return replacement

    def delete_object(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "delete_metadef_object")
            obj = content_repo.get_object(session, row.id, name)
            if obj is None:
                raise _missing("object", name, namespace)
            refuse_if_protected(row, "objects")
            content_repo.delete_object(session, row.id, name)
        deleted_at = now()
        self.events.emit("metadef_object.delete", lambda: payloads.deleted(
            payloads.metadef_object(namespace, obj), deleted_at))

    # Properties ------------------------------------------------------------

    def list_properties(self, ctx: RequestContext, namespace: str) -> list[PropertyDefinition]:
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_properties")
            return content_repo.list_properties(session, row.id)

    def show_property(self, ctx: RequestContext, namespace: str, name: str,
                      resource_type: str | None = None) -> PropertyDefinition:
        """A property; with `resource_type`, `name` carries that association's prefix."""
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_property")
            stored_name = name
            if resource_type:
                prefix = next((a.prefix for a in repo.associations(session, [row.id]).get(row.id, [])
                               if a.name == resource_type), None)
                bare = unprefixed(name, prefix)
                if bare is None:
                    raise NotFound(f"Property {name} does not start with the expected resource "
                                   f"type association prefix of '{prefix}'.")
                stored_name = bare
            found = content_repo.get_property(session, row.id, stored_name)
        if found is None:
            raise _missing("property", name, namespace)
        found.name = name
        return found

    def create_property(self, ctx: RequestContext, namespace: str,
                        body: dict[str, Any]) -> PropertyDefinition:
        prop = property_from(body)
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "add_metadef_property")
            content_repo.insert_property(session, row.id, prop)
        self.events.emit("metadef_property.create",
                         lambda: payloads.metadef_property(namespace, prop))
        return prop

    def update_property(self, ctx: RequestContext, namespace: str, name: str,
                        body: dict[str, Any]) -> PropertyDefinition:
        replacement = property_from(body)
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "modify_metadef_property")
            current = content_repo.get_property(session, row.id, name)
            if current is None:
                raise _missing("property", name, namespace)
            replacement.created_at = current.created_at
            content_repo.save_property(session, row.id, name, replacement)
        self.events.emit("metadef_property.update", lambda: payloads.metadef_property(
            namespace, replacement, old_name=name))
        return replacement

    def delete_property(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "remove_metadef_property")
            prop = content_repo.get_property(session, row.id, name)
            if prop is None:
                raise _missing("property", name, namespace)
            refuse_if_protected(row, "properties")
            content_repo.delete_property(session, row.id, name)
        deleted_at = now()
        self.events.emit("metadef_property.delete", lambda: payloads.deleted(
            payloads.metadef_property(namespace, prop), deleted_at))

    # Tags ------------------------------------------------------------------

    def list_tags(self, ctx: RequestContext, namespace: str, query: TagQuery) -> list[Tag]:
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_tags")
            return content_repo.list_tags(session, row.id, query)

    def show_tag(self, ctx: RequestContext, namespace: str, name: str) -> Tag:
        with self.db.reading() as session:
            row = self._load(session, ctx, namespace, "get_metadef_tag")
            found = content_repo.get_tag(session, row.id, name)
        if found is None:
            raise _missing("tag", name, namespace)
        return found

    def create_tag(self, ctx: RequestContext, namespace: str, name: str) -> Tag:
        moment = now()
        tag = Tag(check_name("tag", name), moment, moment)
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "add_metadef_tag")
            content_repo.insert_tags(session, row.id, [tag])
        self.events.emit("metadef_tag.create", lambda: payloads.metadef_tag(namespace, tag))
        return tag

    def create_tags(self, ctx: RequestContext, namespace: str, names: list[Any],
                    *, append: bool) -> list[Tag]:
        """Set a namespace's tags to `names`, or add them with `append`.
        Conflict when a name repeats in the request (or, appending, is already there)."""
        moment = now()
        tags = [Tag(name, moment, moment)
                for name in check_unique("tag", [check_name("tag", n) for n in names])]
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "add_metadef_tags")
            if not append:
                content_repo.delete_children(session, row.id, MetadefTagRow)
            content_repo.insert_tags(session, row.id, tags)
        for tag in tags:
            self.events.emit("metadef_tag.create",
                             partial(payloads.metadef_tag, namespace, tag))
        return tags

    def update_tag(self, ctx: RequestContext, namespace: str, name: str, body: dict[str, Any]) -> Tag:
        new_name = check_name("tag", body.get("name"))
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "modify_metadef_tag")
            current = content_repo.get_tag(session, row.id, name)
            if current is None:
                raise _missing("tag", name, namespace)
            moment = now()
            content_repo.save_tag(session, row.id, name, new_name, moment)
        updated = Tag(new_name, current.created_at, moment)
        self.events.emit("metadef_tag.update",
                         lambda: payloads.metadef_tag(namespace, updated, old_name=name))
        return updated

    def delete_tag(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writing() as session:
            row = self._load(session, ctx, namespace, "delete_metadef_tag")
            tag = content_repo.get_tag(session, row.id, name)
            if tag is None:
                raise _missing("tag", name, namespace)
            refuse_if_protected(row, "tags")
            content_repo.delete_tag(session, row.id, name)
        deleted_at = now()
        self.events.emit("metadef_tag.delete", lambda: payloads.deleted(
            payloads.metadef_tag(namespace, tag), deleted_at))
