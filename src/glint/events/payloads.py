"""The payloads of Glance's notifications, built from domain objects.

Pure functions: the same fields, names and value formats Glance sends, so a
consumer written for Glance (billing, search indexing, auditing) reads
Glint's notifications unchanged. Locations are never included: they may hold
credentials. Times are Glance's `isotime`: seconds, UTC, a trailing `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from glint.domain.errors import Forbidden, GlintError, NotFound, StorageFull
from glint.domain.image import Image, Member, Visibility
from glint.domain.metadefs import (
    Association,
    Definition,
    MetadefObject,
    Namespace,
    PropertyDefinition,
    Tag,
)
from glint.domain.task import Task

Payload = dict[str, Any]

# The image properties Glance reports as lists in image.prepare and image.upload.
IMPORT_PROPERTIES = ("os_glance_importing_to_stores", "os_glance_failed_import")
# The fields of a metadata definition property's schema that Glance reports.
SCHEMA_FIELDS = (
    "type", "title", "description", "default", "minimum", "maximum", "enum", "pattern",
    "minLength", "maxLength", "confidential", "items", "uniqueItems", "minItems", "maxItems",
    "additionalItems",
)


def isotime(moment: datetime | None) -> str | None:
    """Glance's timestamp format: `2024-05-01T12:00:00Z` (naive times are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def deleted(payload: Payload, when: datetime) -> Payload:
    """`payload` marked as the payload of a deletion at `when`."""
    return {**payload, "deleted": True, "deleted_at": isotime(when)}


def image(item: Image) -> Payload:
    """An image's fields, as Glance's image.create/update/delete/upload/... carry them."""
    return {
        "id": item.id,
        "name": item.name,
        "status": str(item.status),
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "min_disk": item.min_disk,
        "min_ram": item.min_ram,
        "protected": item.protected,
        "checksum": item.checksum,
        "owner": item.owner,
        "disk_format": item.disk_format,
        "container_format": item.container_format,
        "size": item.size,
        "virtual_size": item.virtual_size,
        "is_public": item.visibility == Visibility.PUBLIC,
        "visibility": str(item.visibility),
        "properties": dict(item.properties),
        "tags": sorted(item.tags),
        "deleted": False,
        "deleted_at": None,
    }


def image_with_imports(item: Image, backend: str | None = None) -> Payload:
    """image.prepare and image.upload: the image, with the stores an import is
    writing to and those it failed for as lists; image.prepare names the store
    written to (`backend`) on a multi-store site."""
    payload = image(item)
    for name in IMPORT_PROPERTIES:
        value = item.properties.get(name)
        payload[name] = value.split(",") if value else []
    if backend is not None:
        payload["backend"] = backend
    return payload


def image_send(item: Image, bytes_sent: int, *, receiver_project: str | None,
               receiver_user: str | None) -> Payload:
    """image.send: who downloaded how many bytes of whose image."""
    return {
        "bytes_sent": bytes_sent,
        "image_id": item.id,
        "owner_id": item.owner,
        "receiver_tenant_id": receiver_project,
        "receiver_user_id": receiver_user,
    }


def upload_failure(image_id: str, error: Exception) -> str:
    """The payload of image.upload as an error: Glance's message for the failure."""
    if isinstance(error, StorageFull):
        return f"Image storage media is full: {error}"
    if isinstance(error, Forbidden):
        return f"Not allowed to upload image data for image {image_id}: {error}"
    if isinstance(error, NotFound):
        return (f"Image {image_id} could not be found after upload. The image may have been "
                f"deleted during the upload: {error}")
    if isinstance(error, GlintError):  # answered with an HTTP error
        return f"Failed to upload image data for image {image_id} due to HTTP error: {error}"
    return f"Failed to upload image data for image {image_id} due to internal error: {error}"


def member(item: Member) -> Payload:
    return {
        "image_id": item.image_id,
        "member_id": item.member_id,
        "status": str(item.status),
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


def task(item: Task) -> Payload:
    """A task's fields; its input and result are left out, as Glance does (they
    may hold credentials)."""
    return {
        "id": item.id,
        "type": str(item.type),
        "status": str(item.status),
        "result": None,
        "owner": item.owner,
        "message": None,
        "expires_at": isotime(item.expires_at),
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


def namespace(item: Namespace, *, old_name: str | None = None) -> Payload:
    return {
        "namespace": item.namespace,
        "namespace_old": old_name or item.namespace,
        "display_name": item.display_name,
        "protected": item.protected,
        "visibility": str(item.visibility),
        "owner": item.owner,
        "description": item.description,
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


def metadef_object(namespace_name: str, item: MetadefObject, *,
                   old_name: str | None = None) -> Payload:
    return {
        "namespace": namespace_name,
        "name": item.name,
        "name_old": old_name or item.name,
        "properties": [_object_property(name, schema)
                       for name, schema in item.properties.items()],
        "required": list(item.required),
        "description": item.description,
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


def _object_property(name: str, schema: Definition) -> Payload:
    # Glance reports an object's property fields that are empty or false as null.
    return {"name": name, **{field: schema.get(field) or None for field in SCHEMA_FIELDS}}


def metadef_property(namespace_name: str, item: PropertyDefinition, *,
                     old_name: str | None = None) -> Payload:
    return {
        "namespace": namespace_name,
        "name": item.name,
        "name_old": old_name or item.name,
        **{field: item.definition.get(field) for field in SCHEMA_FIELDS},
        "deleted": False,
        "deleted_at": None,
    }


def resource_type(namespace_name: str, item: Association) -> Payload:
    """metadef_resource_type.create/delete: a namespace's association."""
    return {
        "namespace": namespace_name,
        "name": item.name,
        "name_old": item.name,
        "prefix": item.prefix,
        "properties_target": item.properties_target,
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


def metadef_tag(namespace_name: str, item: Tag, *, old_name: str | None = None) -> Payload:
    return {
        "namespace": namespace_name,
        "name": item.name,
        "name_old": old_name or item.name,
        "created_at": isotime(item.created_at),
        "updated_at": isotime(item.updated_at),
        "deleted": False,
        "deleted_at": None,
    }
