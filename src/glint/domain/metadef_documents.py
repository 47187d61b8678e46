"""Metadata definition files: Glance's JSON format, read and written. Pure.

One file holds one namespace:

    {"namespace": "OS::Compute::Watchdog", "display_name": ..., "description": ...,
     "visibility": "public", "protected": true, "owner": ...,
     "resource_type_associations": [{"name", "prefix", "properties_target"}],
     "properties": {name: definition}, "objects": [{"name", "description",
     "required", "properties"}], "tags": [{"name"}]}

Property definitions are kept exactly as written, so a file loaded and
exported again gives the same definitions.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from glint.domain.errors import InvalidInput
from glint.domain.metadefs import (
    Association,
    MetadefObject,
    Namespace,
    NamespaceContents,
    NamespaceVisibility,
    PropertyDefinition,
    Tag,
    check_name,
)

_UNSAFE_IN_FILE_NAMES = re.compile(r"[^\w.-]+")


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidInput(f"{what} must be a list of JSON objects")
    return value


def contents_from_document(document: Any, when: datetime) -> NamespaceContents:
    """The namespace a definition file describes; InvalidInput when it is not one."""
    if not isinstance(document, dict):
        raise InvalidInput("a definition file must hold one JSON object")
    name = check_name("namespace", document.get("namespace"))
    try:
        visibility = NamespaceVisibility(document.get("visibility") or "private")
    except ValueError:
        raise InvalidInput(f"visibility must be public or private, not "
                           f"{document.get('visibility')!r}") from None
    namespace = Namespace(
        namespace=name, display_name=document.get("display_name"),
        description=document.get("description"), visibility=visibility,
        protected=bool(document.get("protected") or False), owner=document.get("owner"),
        created_at=when, updated_at=when,
    )
    associations = [
        Association(name=check_name("resource type", item.get("name")), prefix=item.get("prefix"),
                    properties_target=item.get("properties_target"),
                    created_at=when, updated_at=when)
        for item in _list(document.get("resource_type_associations"), "resource_type_associations")
    ]
    properties = [
        PropertyDefinition(check_name("property", key), _mapping(value, f"property {key}"),
                           when, when)
        for key, value in _mapping(document.get("properties"), "properties").items()
    ]
    objects = [
        MetadefObject(
            name=check_name("object", item.get("name")), created_at=when, updated_at=when,
            description=item.get("description"), required=list(item.get("required") or []),
            properties=_mapping(item.get("properties"), f"object {item.get('name')} properties"),
        )
        for item in _list(document.get("objects"), "objects")
    ]
    tags = [Tag(check_name("tag", item.get("name")), when, when)
            for item in _list(document.get("tags"), "tags")]
    return NamespaceContents(namespace, associations, properties, objects, tags)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def document_of(contents: NamespaceContents) -> dict[str, Any]:
    """The definition file for a namespace (the format `contents_from_document` reads)."""
    namespace = contents.namespace
    document = _without_none({
        "namespace": namespace.namespace, "display_name": namespace.display_name,
        "description": namespace.description, "visibility": str(namespace.visibility),
        "protected": namespace.protected, "owner": namespace.owner,
    })
    document["resource_type_associations"] = [
        _without_none({"name": a.name, "prefix": a.prefix, "properties_target": a.properties_target})
        for a in contents.associations
    ]
    document["properties"] = {p.name: p.definition for p in contents.properties}
    document["objects"] = [
        _without_none({"name": o.name, "description": o.description,
                       "required": o.required or None, "properties": o.properties})
        for o in contents.objects
    ]
    document["tags"] = [{"name": tag.name} for tag in contents.tags]
    return document


def file_name_for(namespace: str) -> str:
    """A file name for a namespace's definitions: OS::Compute::Watchdog -> OS-Compute-Watchdog.json.

    Glance names exported files after the display name, which may be missing
    or shared by two namespaces; the namespace name is unique.
    """
    return _UNSAFE_IN_FILE_NAMES.sub("-", namespace).strip("-") + ".json"
