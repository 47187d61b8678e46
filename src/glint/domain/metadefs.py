"""Metadata definitions (metadefs): plain data and the pure rules about them.

A namespace groups typed property definitions, objects (named groups of
property definitions), tags, and associations with resource types such as
OS::Glance::Image. Property definitions are JSON-schema-like documents kept
as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from glint.domain.errors import Conflict, InvalidInput

IMAGE_RESOURCE_TYPE = "OS::Glance::Image"
MAX_NAME_LENGTH = 80
# The keys a property definition may carry (Glance's PropertyType).
PROPERTY_KEYS = (
    "title", "type", "description", "operators", "default", "readonly", "minimum", "maximum",
    "enum", "pattern", "minLength", "maxLength", "confidential", "items", "uniqueItems",
    "minItems", "maxItems", "additionalItems",
)
NAMESPACE_SORT_KEYS = frozenset({
    "namespace", "display_name", "created_at", "updated_at", "visibility", "protected", "owner",
})
TAG_SORT_KEYS = frozenset({"name", "created_at", "updated_at"})

Definition = dict[str, Any]


class NamespaceVisibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass
class Namespace:
    namespace: str
    visibility: NamespaceVisibility
    protected: bool
    owner: str | None
    created_at: datetime
    updated_at: datetime
    display_name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Association:
    """A namespace's association with a resource type."""

    name: str
    prefix: str | None
    properties_target: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ResourceType:
    name: str
    protected: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class MetadefObject:
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    required: list[str] = field(default_factory=list)
    properties: dict[str, Definition] = field(default_factory=dict)


@dataclass
class PropertyDefinition:
    name: str
    definition: Definition
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Tag:
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass
class NamespaceContents:
    """A namespace with everything in it, in the order it was written."""

    namespace: Namespace
    associations: list[Association] = field(default_factory=list)
    properties: list[PropertyDefinition] = field(default_factory=list)
    objects: list[MetadefObject] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


@dataclass(frozen=True)
class NamespaceQuery:
    """One page of the namespace list."""

    limit: int
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: SortDirection = SortDirection.DESC
    visibility: NamespaceVisibility | None = None
    resource_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagQuery:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: SortDirection = SortDirection.DESC


# Names ---------------------------------------------------------------------

def check_name(kind: str, name: Any) -> str:
    """A usable name for a namespace, object, property, tag or resource type.

    Glance accepts an empty namespace name and then cannot address it; Glint
    refuses empty names and names with "/" (InvalidInput).
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"The {kind} name must be a non-empty string.")
    if "/" in name:
        raise InvalidInput(f"The {kind} name may not contain '/'.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The {kind} name is longer than {MAX_NAME_LENGTH} characters.")
    return name


def check_unique(kind: str, names: Iterable[str]) -> list[str]:
    """The names in order; Conflict when one repeats."""
    seen: list[str] = []
    for name in names:
        if name in seen:
            raise Conflict(f"Duplicate {kind} name {name!r} in the request.")
        seen.append(name)
    return seen


# Property definitions --------------------------------------------------------

def clean_definition(body: Mapping[str, Any]) -> Definition:
    """The definition keys of a property body (its name is kept apart)."""
    return {key: body[key] for key in PROPERTY_KEYS if key in body}


def shown_definition(definition: Mapping[str, Any]) -> Definition:
    """What the API shows of a stored definition: only keys clients validate."""
    return {key: definition[key] for key in PROPERTY_KEYS if key in definition}


def check_pattern(definition: Mapping[str, Any], where: str) -> None:
    """A property's pattern must compile; InvalidInput otherwise."""
    pattern = definition.get("pattern")
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise InvalidInput(f"Invalid pattern for {where}: {exc}") from None


# Listing --------------------------------------------------------------------

def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    """`limit` from a query string; InvalidInput instead of Glance's 500 for non-integers."""
    if raw is None:
        return min(default, maximum)
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidInput("limit param must be an integer") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    return min(limit, maximum)


def parse_sort(key: str | None, direction: str | None, allowed: frozenset[str]
               ) -> tuple[str, SortDirection]:
    sort_key = key or "created_at"
    if sort_key not in allowed:
        raise InvalidInput(f"Invalid sort key: {sort_key}")
    try:
        return sort_key, SortDirection(direction or "desc")
    except ValueError:
        raise InvalidInput(f"Invalid sort direction: {direction}") from None


def parse_visibility(raw: str | None) -> NamespaceVisibility | None:
    if not raw:
        return None
    try:
        return NamespaceVisibility(raw)
    except ValueError:
        raise InvalidInput(f"Invalid visibility value: {raw}") from None


# Resource-type prefixes -----------------------------------------------------

def prefixed(contents: NamespaceContents, resource_type: str) -> NamespaceContents:
    """The namespace as seen through one resource type: property names (and
    object properties and required names) carry that association's prefix."""
    prefix = next((a.prefix for a in contents.associations if a.name == resource_type), None)
    if not prefix:
        return contents
    properties = [
        PropertyDefinition(prefix + p.name, p.definition, p.created_at, p.updated_at)
        for p in contents.properties
    ]
    objects = [
        MetadefObject(
            name=o.name, created_at=o.created_at, updated_at=o.updated_at,
            description=o.description, required=[prefix + name for name in o.required],
            properties={prefix + name: value for name, value in o.properties.items()},
        )
        for o in contents.objects
    ]
    return NamespaceContents(contents.namespace, contents.associations, properties, objects,
                             contents.tags)


def unprefixed(name: str, prefix: str | None) -> str | None:
    """`name` without the association prefix; None when it does not carry it."""
    if prefix and name.startswith(prefix):
        return name[len(prefix):]
    return None
