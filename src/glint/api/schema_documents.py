"""PROVISIONAL minimal schema documents (being replaced by the full version)."""
from __future__ import annotations

from typing import Any

from glint.settings import DEFAULT_CONTAINER_FORMATS, DEFAULT_DISK_FORMATS


def image_schema(*, disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS,
                 container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS) -> dict[str, Any]:
    return {
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": ["null", "string"], "maxLength": 255},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"},
            "os_hidden": {"type": "boolean"},
            "owner": {"type": ["null", "string"], "maxLength": 255},
            "container_format": {"type": ["null", "string"], "enum": [None, *container_formats]},
            "disk_format": {"type": ["null", "string"], "enum": [None, *disk_formats]},
            "min_ram": {"type": "integer", "minimum": 0},
            "min_disk": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "status": {"type": "string", "readOnly": True},
            "checksum": {"type": ["null", "string"], "readOnly": True},
        },
        "additionalProperties": {"type": "string"},
    }


def images_schema(**kwargs: Any) -> dict[str, Any]:
    return {"name": "images", "properties": {"images": {"type": "array", "items": image_schema(**kwargs)}}}


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": {}}


def members_schema() -> dict[str, Any]:
    return {"name": "members", "properties": {}}


def task_schema() -> dict[str, Any]:
    return {"name": "task", "properties": {}}


def tasks_schema() -> dict[str, Any]:
    return {"name": "tasks", "properties": {}}


def versions_document(base_url: str, *, multistore: bool, cache: bool) -> dict[str, Any]:
    return {"versions": [{"id": "v2.17", "status": "CURRENT",
                          "links": [{"rel": "self", "href": base_url + "/v2/"}]}]}
