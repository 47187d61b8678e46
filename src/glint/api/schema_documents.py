"""The JSON schema documents served under /v2/schemas, and the versions document.

Clients depend on these documents, so property names, types, enums, `readOnly`
and `is_base` markers and the overall shape follow Glance 33 exactly; the
descriptions are our own. What python-glanceclient relies on:

- It downloads `/v2/schemas/image` and builds a warlock model from it. Creates,
  updates (`image-update`) and the `member`/`task` models validate server
  responses and every attribute set against these documents, so anything we
  return must validate against what we serve.
- When it builds a PATCH, a schema property missing from the image becomes a
  `replace` unless the property carries `"is_base": false`, in which case it
  becomes an `add`. Properties declared by the operator (`schema-image.json`)
  are therefore marked `is_base: false`; a `replace` of a missing custom
  property is a 409 on the server.
- Its CLI turns each property into an option: every property needs a `type`
  (the first non-null one is used) and arrays need `items.type`.
Member and task documents are served minimal: no additionalProperties or links.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from glint.settings import DEFAULT_CONTAINER_FORMATS, DEFAULT_DISK_FORMATS

Schema = dict[str, Any]

UUID_PATTERN: Final = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
IMAGE_STATUSES: Final = (
    "queued", "saving", "active", "killed", "deleted", "uploading", "importing",
    "pending_delete", "deactivated",
)
IMAGE_VISIBILITIES: Final = ("community", "public", "private", "shared")
MEMBER_STATUSES: Final = ("pending", "accepted", "rejected")
TASK_TYPES: Final = ("import", "api_image_import", "location_import")
TASK_STATUSES: Final = ("pending", "processing", "success", "failure")

# --- How the images controller treats attribute names --------------------------------

# PATCH: a path whose first segment is one of these is refused with 403 ("is
# read-only"). `id` may be supplied on create but never changed afterwards.
READ_ONLY_IMAGE_ATTRIBUTES: Final = frozenset({
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size",
    "direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value",
})

# Create and PATCH: refused with 403 ("is reserved"), as is any name starting
# with RESERVED_PROPERTY_PREFIX (note: no trailing underscore, so `os_glancefoo`
# is reserved too).
RESERVED_IMAGE_ATTRIBUTES: Final = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PROPERTY_PREFIX: Final = "os_glance"

# Create: keys of the body mapped onto the image's own columns. Everything else
# except `tags` becomes a custom (string) property, which is why `os_hash_algo`
# and `os_hash_value` in a create body are accepted and then silently lost: the
# response shows the real (null) attribute over the stored custom value.
BASE_IMAGE_ATTRIBUTES: Final = frozenset({
    "checksum", "created_at", "container_format", "disk_format", "id", "min_disk",
    "min_ram", "name", "size", "virtual_size", "status", "tags", "owner",
    "updated_at", "visibility", "protected", "os_hidden",
})

# Create: refused with 403 before the body is validated against the schema.
CREATE_DISALLOWED_IMAGE_ATTRIBUTES: Final = frozenset({
    "direct_url", "self", "file", "schema", "stores",
})

# Create: refused with 403 after schema validation (so a wrongly typed value is a
# 400 first). `locations` is refused as reserved: locations are set by PATCH or
# the locations API, never by create.
CREATE_READ_ONLY_IMAGE_ATTRIBUTES: Final = frozenset({
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size",
})
CREATE_RESERVED_IMAGE_ATTRIBUTES: Final = RESERVED_IMAGE_ATTRIBUTES | {"locations"}

# Internal bookkeeping properties stored on images but never shown to clients.
HIDDEN_IMAGE_PROPERTIES: Final = frozenset({"os_glance_stage_host", "os_glance_hash_op_host"})


# --- Operator-declared image properties (schema-image.json) ----------------------------

@dataclass(frozen=True)
class CustomImageProperties:
    """Typed image properties an operator declares, and which of them are required."""

    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()


def custom_properties_from_document(document: object) -> CustomImageProperties:
    """Read a `schema-image.json` document in either format Glance accepts.

    Flat: `{"name": {...}, ...}`. Extended (Glance 2026.1+):
    `{"properties": {...}, "required": [...]}`. Raises ValueError if the
    document is not shaped like either.
    """
    if not isinstance(document, Mapping):
        raise ValueError("schema-image.json must hold a JSON object")
    required: object = []
    properties: object = document
    if "properties" in document:
        properties = document["properties"]
        required = document.get("required") or []
    if not isinstance(properties, Mapping) or not all(
        isinstance(name, str) and isinstance(spec, Mapping) for name, spec in properties.items()
    ):
        raise ValueError("schema-image.json properties must map names to JSON objects")
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise ValueError("schema-image.json 'required' must be a list of property names")
    return CustomImageProperties(
        properties={name: dict(spec) for name, spec in properties.items()},
        required=tuple(required),
    )


def _optional_uuid(description: str) -> Schema:
    return {"type": ["null", "string"], "pattern": UUID_PATTERN, "description": description}


# The properties of the schema-image.json Glance ships in etc/. A deployment
# without that file (e.g. a bare `pip install glance`) serves none of them.
GLANCE_SCHEMA_IMAGE_JSON: Final = CustomImageProperties(properties=MappingProxyType({
    "kernel_id": _optional_uuid("Image holding the kernel to boot an AMI-style image with"),
    "ramdisk_id": _optional_uuid("Image holding the ramdisk to boot an AMI-style image with"),
    "instance_uuid": {"type": "string",
                      "description": "Server this image is recorded as coming from "
                                     "(a label only; nothing is snapshotted)"},
    "architecture": {"description": "CPU architecture the image needs, e.g. x86_64 or "
                                    "aarch64 (see the glanceclient property-keys list)",
                     "type": "string"},
    "os_distro": {"description": "Operating system distribution in lower case, e.g. "
                                 "ubuntu or cirros (see the glanceclient property-keys list)",
                  "type": "string"},
    "os_version": {"description": "Operating system version as its distributor numbers it",
                   "type": "string"},
    "description": {"description": "Free text describing the image", "type": "string"},
}))
NO_CUSTOM_IMAGE_PROPERTIES: Final = CustomImageProperties()

# --- Image documents -----------------------------------------------------------------

def _described(schema_type: str | list[str], description: str, **extra: Any) -> Schema:
    return {"type": schema_type, "description": description, **extra}


def _read_only(schema_type: str | list[str], description: str, **extra: Any) -> Schema:
    return {"type": schema_type, "readOnly": True, "description": description, **extra}


def _locations_property() -> Schema:
    validation_data: Schema = {
        "description": "Hashes to record on the image from this location; once the "
                       "image has data they must equal the image's own.",
        "type": "object",
        "writeOnly": True,
        "additionalProperties": False,
        "properties": {
            "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
            "os_hash_algo": {"type": "string", "maxLength": 64},
            "os_hash_value": {"type": "string", "maxLength": 128},
        },
        "required": ["os_hash_algo", "os_hash_value"],
    }
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
                "validation_data": validation_data,
            },
            "required": ["url", "metadata"],
        },
        "description": "Where the image data is kept, one entry per store location",
    }


def image_base_properties(
    disk_formats: tuple[str, ...], container_formats: tuple[str, ...]
) -> Schema:
    """The image's own attributes, typed as in Glance's image schema (fresh copy)."""
    nullable_string = ["null", "string"]
    return {
        "id": _described("string", "Unique identifier of the image (a UUID)",
                         pattern=UUID_PATTERN),
        "name": _described(nullable_string, "Human-readable name of the image", maxLength=255),
        "status": _read_only("string", "Where the image is in its lifecycle",
                             enum=list(IMAGE_STATUSES)),
        "visibility": _described("string", "Who can see the image",
                                 enum=list(IMAGE_VISIBILITIES)),
        "protected": _described("boolean", "If true, the image cannot be deleted"),
        "os_hidden": _described("boolean", "If true, default image lists leave the image out"),
        "checksum": _read_only(nullable_string, "MD5 digest of the image data", maxLength=32),
        "os_hash_algo": _read_only(nullable_string,
                                   "Hash algorithm that produced os_hash_value", maxLength=64),
        "os_hash_value": _read_only(nullable_string,
                                    "Hex digest of the image data made with os_hash_algo",
                                    maxLength=128),
        "owner": _described(nullable_string, "Project that owns the image", maxLength=255),
        "size": _read_only(["null", "integer"], "Size of the image data in bytes"),
        "virtual_size": _read_only(["null", "integer"], "Size of the virtual disk in bytes"),
        "container_format": _described(nullable_string, "Container format of the image data",
                                       enum=[None, *container_formats]),
        "disk_format": _described(nullable_string, "Disk format of the image data",
                                  enum=[None, *disk_formats]),
        "created_at": _read_only("string", "When the image was registered"),
        "updated_at": _read_only("string", "When the image was last changed"),
        "tags": _described("array", "Free-form labels attached to the image",
                           items={"type": "string", "maxLength": 255}),
        "direct_url": _read_only("string", "URL of the image data in its backing store"),
        "min_ram": _described("integer", "RAM in MB needed to boot the image"),
        "min_disk": _described("integer", "Disk in GB needed to boot the image"),
        "self": _read_only("string", "URL of this image"),
        "file": _read_only("string", "URL of this image's data"),
        "stores": _read_only("string", "Comma-separated ids of the stores holding the data "
                                       "(shown only when several stores are configured)"),
        "schema": _read_only("string", "URL of the schema describing this image"),
        "locations": _locations_property(),
    }


def image_schema(
    *,
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS,
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS,
    custom: CustomImageProperties = GLANCE_SCHEMA_IMAGE_JSON,
    extra_properties_allowed: bool = True,
) -> Schema:
    """Body of GET /v2/schemas/image.

    Base attributes, then the operator's custom properties (marked
    `is_base: false`), any other property as a string, and the link templates.
    `extra_properties_allowed=False` gives the closed document of Glance's
    retired `allow_additional_image_properties=False`. Raises ValueError if a
    custom property reuses a base attribute's name (Glance refuses to start).
    """
    properties = image_base_properties(disk_formats, container_formats)
    clashes = sorted(set(custom.properties) & set(properties))
    if clashes:
        raise ValueError(f"custom properties ({', '.join(clashes)}) conflict with base properties")
    for name, spec in custom.properties.items():
        properties[name] = {**copy.deepcopy(dict(spec)), "is_base": False}
    document: Schema = {
        "name": "image",
        "properties": properties,
        "additionalProperties": {"type": "string"} if extra_properties_allowed else False,
    }
    if custom.required:
        document["required"] = list(custom.required)
    document["links"] = [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ]
    return document


def images_schema(
    *,
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS,
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS,
    custom: CustomImageProperties = GLANCE_SCHEMA_IMAGE_JSON,
    extra_properties_allowed: bool = True,
) -> Schema:
    """Body of GET /v2/schemas/images: the image list page. Raises like image_schema."""
    item = image_schema(disk_formats=disk_formats, container_formats=container_formats,
                        custom=custom, extra_properties_allowed=extra_properties_allowed)
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


# --- Member and task documents (minimal form) -----------------------------------------

def _minimal_collection(name: str, item: Schema) -> Schema:
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


def member_schema() -> Schema:
    """Body of GET /v2/schemas/member (no additionalProperties, no links)."""
    return {
        "name": "member",
        "properties": {
            "member_id": _described("string", "Project the image is shared with"),
            "image_id": _described("string", "The shared image", pattern=UUID_PATTERN),
            "created_at": _described("string", "When the image was shared with the member"),
            "updated_at": _described("string", "When the membership last changed"),
            "status": _described("string", "Whether the member has accepted the image",
                                 enum=list(MEMBER_STATUSES)),
            "schema": {"readOnly": True, "type": "string"},
        },
    }


def members_schema() -> Schema:
    """Body of GET /v2/schemas/members."""
    return _minimal_collection("members", member_schema())


def _task_properties(*, with_details: bool) -> Schema:
    properties: Schema = {
        "id": _described("string", "Unique identifier of the task", pattern=UUID_PATTERN),
        "type": _described("string", "What the task does", enum=list(TASK_TYPES)),
        "status": _described("string", "Where the task is in its lifecycle",
                             enum=list(TASK_STATUSES)),
        "input": _described(["null", "object"], "Parameters the task was started with"),
        "result": _described(["null", "object"], "What the task produced"),
        "owner": _described("string", "Project that owns the task"),
        "message": _described("string", "Human-readable note, usually why the task failed"),
        "image_id": _described("string", "Image the task works on"),
        "request_id": _described("string", "Request that started the task"),
        "user_id": _described("string", "User that started the task"),
        "expires_at": _described(["null", "string"], "When the task record may be removed"),
        "created_at": _described("string", "When the task was created"),
        "updated_at": _described("string", "When the task last changed"),
        "self": {"readOnly": True, "type": "string"},
        "schema": {"readOnly": True, "type": "string"},
    }
    if not with_details:
        for name in ("input", "result", "message"):
            del properties[name]
    return properties


def task_schema() -> Schema:
    """Body of GET /v2/schemas/task (no additionalProperties, no links)."""
    return {"name": "task", "properties": _task_properties(with_details=True)}


def tasks_schema() -> Schema:
    """Body of GET /v2/schemas/tasks; list entries omit input, result and message."""
    return _minimal_collection(
        "tasks", {"name": "task", "properties": _task_properties(with_details=False)}
    )


# --- Versions document -----------------------------------------------------------------

_CACHE_VERSIONS: Final = ("2.18", "2.17", "2.16", "2.15", "2.14")
_MULTISTORE_VERSIONS: Final = ("2.13", "2.12", "2.11", "2.10", "2.9", "2.8")
_BASE_VERSIONS: Final = ("2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")


def current_version(*, cache: bool) -> str:
    """The version marked CURRENT: 2.18 with the image cache enabled, else 2.17."""
    return "2.18" if cache else "2.17"


def advertised_versions(*, multistore: bool, cache: bool) -> list[str]:
    """Version numbers in the order Glance 33 lists them.

    Not sorted: without the cache Glance lists 2.15 first and puts the CURRENT
    2.17 after the 2.9 (or 2.8) entry, just before 2.7.
    """
    head = list(_CACHE_VERSIONS) if cache else ["2.15"]
    middle = list(_MULTISTORE_VERSIONS) if multistore else ["2.9"]
    late_current = [] if cache else ["2.17"]
    return [*head, *middle, *late_current, *_BASE_VERSIONS]


def versions_document(base_url: str, *, multistore: bool, cache: bool) -> Schema:
    """Body of GET / (300) and GET /versions (200).

    `base_url` is `public_endpoint` or the request's application URL; every
    entry links to `<base_url>/v2/`.
    """
    href = base_url.rstrip("/") + "/v2/"
    current = current_version(cache=cache)
    return {"versions": [
        {"id": f"v{number}",
         "status": "CURRENT" if number == current else "SUPPORTED",
         "links": [{"rel": "self", "href": href}]}
        for number in advertised_versions(multistore=multistore, cache=cache)
    ]}
