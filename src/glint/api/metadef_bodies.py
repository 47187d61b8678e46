"""Metadef request checks and response bodies, in Glance 33's shapes.

Absent values are left out of responses rather than sent as null: the
client validates responses against schemas whose fields are plain strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft4Validator

from glint.api import metadef_schemas as schemas
from glint.api.serialization import timestamp
from glint.domain.errors import Forbidden, InvalidInput
from glint.domain.metadefs import (
    Association,
    MetadefObject,
    NamespaceContents,
    PropertyDefinition,
    ResourceType,
    Tag,
    shown_definition,
)

NAMESPACES = "/v2/metadefs/namespaces"
READ_ONLY = ("created_at", "updated_at")
READ_ONLY_WITH_LINKS = ("self", "schema", "created_at", "updated_at")


@cache
def _validator(kind: str) -> Draft4Validator:
    documents = schemas.metadef_schema_documents()
    documents["tags_request"] = schemas.tags_request_schema()
    return Draft4Validator(documents[kind])


def check_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Refuse read-only fields (Forbidden) and bodies the `kind` schema rejects (InvalidInput)."""
    read_only = READ_ONLY_WITH_LINKS if kind in ("namespace", "object") else READ_ONLY
    for key in read_only:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    error = next(iter(sorted(_validator(kind).iter_errors(body), key=str)), None)
    if error is not None:
        raise InvalidInput(f"Provided object does not match schema '{kind}': {error.message}")
    return body


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _times(item: Association | MetadefObject | PropertyDefinition | Tag | ResourceType
           ) -> dict[str, str]:
    return {"created_at": timestamp(item.created_at), "updated_at": timestamp(item.updated_at)}


def association_body(association: Association) -> dict[str, Any]:
    return _without_none({
        "name": association.name, "prefix": association.prefix,
        "properties_target": association.properties_target, **_times(association),
    })


def resource_type_body(resource_type: ResourceType) -> dict[str, Any]:
    return {"name": resource_type.name, **_times(resource_type)}


def object_body(namespace: str, obj: MetadefObject) -> dict[str, Any]:
    return _without_none({
        "name": obj.name, "description": obj.description, "required": obj.required,
        "properties": {name: shown_definition(d) for name, d in obj.properties.items()},
        **_times(obj),
        "self": f"{NAMESPACES}/{namespace}/objects/{obj.name}",
        "schema": "/v2/schemas/metadefs/object",
    })


def property_body(prop: PropertyDefinition) -> dict[str, Any]:
    return {"name": prop.name, **shown_definition(prop.definition)}


def properties_body(properties: Iterable[PropertyDefinition]) -> dict[str, Any]:
    return {prop.name: shown_definition(prop.definition) for prop in properties}


def tag_body(tag: Tag) -> dict[str, Any]:
    return {"name": tag.name, **_times(tag)}


def namespace_body(contents: NamespaceContents) -> dict[str, Any]:
    """A namespace with whatever it contains (lists are left out when empty)."""
    namespace = contents.namespace
    body = _without_none({
        "namespace": namespace.namespace, "display_name": namespace.display_name,
        "description": namespace.description, "visibility": str(namespace.visibility),
        "protected": namespace.protected, "owner": namespace.owner,
        "created_at": timestamp(namespace.created_at),
        "updated_at": timestamp(namespace.updated_at),
        "self": f"{NAMESPACES}/{namespace.namespace}",
        "schema": "/v2/schemas/metadefs/namespace",
    })
    if contents.associations:
        body["resource_type_associations"] = [association_body(a) for a in contents.associations]
    if contents.properties:
        body["properties"] = properties_body(contents.properties)
    if contents.objects:
        body["objects"] = [object_body(namespace.namespace, o) for o in contents.objects]
    if contents.tags:
        body["tags"] = [{"name": tag.name} for tag in contents.tags]
    return body


def truthy_header(value: str | None) -> bool:
    """`X-Openstack-Append: True` and the other spellings oslo's bool_from_string accepts."""
    return (value or "").strip().lower() in ("1", "t", "true", "on", "y", "yes")
