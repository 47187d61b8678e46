"""The JSON schema documents served under /v2/schemas, and the versions document.

Clients depend on these: python-glanceclient downloads /v2/schemas/image and
validates images and patches against it, so the property names, types, enums
and `readOnly` markers follow Glance 33 exactly. Descriptions are our own.
"""

from __future__ import annotations

from typing import Any

from glint.settings import DEFAULT_CONTAINER_FORMATS, DEFAULT_DISK_FORMATS

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
IMAGE_STATUSES = [
    "queued", "saving", "active", "killed", "deleted", "uploading", "importing",
    "pending_delete", "deactivated",
]
Schema = dict[str, Any]


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _nullable_string(description: str, **extra: Any) -> Schema:
    return {"type": ["null", "string"], "description": description, **extra}


def _read_only(schema: Schema) -> Schema:
    return {**schema, "readOnly": True}


def image_properties(disk_formats: tuple[str, ...], container_formats: tuple[str, ...]) -> Schema:
    """The base image attributes, as typed in Glance's image schema."""
    return {
        "id": _string("Unique identifier of the image (a UUID)", pattern=UUID_PATTERN),
        "name": _nullable_string("Human-readable name of the image", maxLength=255),
        "status": _read_only(_string("Where the image is in its lifecycle",
                                     enum=IMAGE_STATUSES)),
        "visibility": _string("Who can see the image",
                              enum=["community", "public", "private", "shared"]),
        "protected": {"type": "boolean", "description": "If true, the image cannot be deleted."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, the image is left out of default image lists."},
        "checksum": _read_only(_nullable_string("MD5 digest of the image data", maxLength=32)),
        "os_hash_algo": _read_only(_nullable_string(
            "Hash algorithm used to compute os_hash_value", maxLength=64)),
        "os_hash_value": _read_only(_nullable_string(
            "Digest of the image data computed with os_hash_algo", maxLength=128)),
        "owner": _nullable_string("Project that owns the image", maxLength=255),
        "size": _read_only({"type": ["null", "integer"],
                            "description": "Size of the image data in bytes"}),
        "virtual_size": _read_only({"type": ["null", "integer"],
                                    "description": "Size of the virtual disk in bytes"}),
        "container_format": _nullable_string("Container format of the image data",
                                             enum=[None, *container_formats]),
        "disk_format": _nullable_string("Disk format of the image data",
                                        enum=[None, *disk_formats]),
        "created_at": _read_only(_string("When the image was registered")),
        "updated_at": _read_only(_string("When the image was last changed")),
        "tags": {"type": "array", "description": "Free-form labels of the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": _read_only(_string("URL of the image data in its store")),
        "min_ram": {"type": "integer", "description": "RAM in MB needed to boot the image"},
        "min_disk": {"type": "integer", "description": "Disk in GB needed to boot the image"},
        "self": _read_only(_string("URL of this image")),
        "file": _read_only(_string("URL of this image's data")),
        "stores": _read_only(_string(
            "Comma-separated ids of the stores holding the data (multi-store only)")),
        "schema": _read_only(_string("URL of this schema")),
        "locations": {
            "type": "array",
            "description": "URLs of the image data in its stores",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                    "validation_data": {
                        "description": "Hashes to set on the image from this location; they "
                                       "must match the image's own once it has data.",
                        "type": "object",
                        "writeOnly": True,
                        "additionalProperties": False,
                        "properties": {
                            "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                            "os_hash_algo": {"type": "string", "maxLength": 64},
                            "os_hash_value": {"type": "string", "maxLength": 128},
                        },
                        "required": ["os_hash_algo", "os_hash_value"],
                    },
                },
                "required": ["url", "metadata"],
            },
        },
    }


def common_image_properties() -> Schema:
    """Well-known optional properties Glance's default schema-image.json declares."""
    kernel_or_ramdisk = {"type": ["null", "string"], "pattern": UUID_PATTERN}
    properties: Schema = {
        "kernel_id": {**kernel_or_ramdisk,
                      "description": "Image to use as the kernel when booting AMI-style images"},
        "ramdisk_id": {**kernel_or_ramdisk,
                       "description": "Image to use as the ramdisk when booting AMI-style images"},
        "instance_uuid": _string("Server this image was snapshotted from"),
        "architecture": _string("CPU architecture the image needs (e.g. x86_64, aarch64)"),
        "os_distro": _string("Operating system distribution, lower case (e.g. ubuntu, cirros)"),
        "os_version": _string("Operating system version as the distributor numbers it"),
        "description": _string("A longer description of the image"),
    }
    for schema in properties.values():
        schema["is_base"] = False
    return properties


def _image_links() -> list[Schema]:
    return [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ]


def image_schema(
    *,
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS,
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS,
) -> Schema:
    """GET /v2/schemas/image: base attributes, common properties, any other as a string."""
    return {
        "name": "image",
        "properties": {
            **image_properties(disk_formats, container_formats),
            **common_image_properties(),
        },
        "additionalProperties": {"type": "string"},
        "links": _image_links(),
    }


def _collection(name: str, item: Schema) -> Schema:
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
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


def images_schema(
    *,
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS,
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS,
) -> Schema:
    return _collection(
        "images", image_schema(disk_formats=disk_formats, container_formats=container_formats)
    )


def member_schema() -> Schema:
    return {
        "name": "member",
        "properties": {
            "member_id": _string("Project the image is shared with"),
            "image_id": _string("The shared image", pattern=UUID_PATTERN),
            "created_at": _string("When the membership was created"),
            "updated_at": _string("When the membership last changed"),
            "status": _string("Whether the member has accepted the image",
                              enum=["pending", "accepted", "rejected"]),
            "schema": _read_only(_string("URL of this schema")),
        },
        "additionalProperties": False,
    }


def members_schema() -> Schema:
    return _collection("members", member_schema())


def task_schema() -> Schema:
    return {
        "name": "task",
        "properties": {
            "id": _string("Unique identifier of the task", pattern=UUID_PATTERN),
            "type": _string("What the task does",
                            enum=["import", "api_image_import", "location_import"]),
            "status": _string("Where the task is in its lifecycle",
                              enum=["pending", "processing", "success", "failure"]),
            "input": {"type": "object", "description": "Parameters the task was started with"},
            "result": {"type": ["null", "object"], "description": "What the task produced"},
            "owner": _string("Project that owns the task"),
            "message": _string("Human-readable state or failure of the task"),
            "image_id": _string("Image the task works on"),
            "request_id": _string("Request that started the task"),
            "user_id": _string("User that started the task"),
            "expires_at": _nullable_string("When the task record will be removed"),
            "created_at": _string("When the task was created"),
            "updated_at": _string("When the task last changed"),
            "self": _string("URL of this task"),
            "schema": _string("URL of this schema"),
        },
        "additionalProperties": False,
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
    }


def tasks_schema() -> Schema:
    return _collection("tasks", task_schema())


def _version(number: str, status: str, base_url: str) -> Schema:
    return {"id": f"v{number}", "status": status,
            "links": [{"rel": "self", "href": f"{base_url}/v2/"}]}


def advertised_versions(*, multistore: bool, cache: bool) -> list[str]:
    """API versions offered, newest first (Glance gates some on features)."""
    newest = ["2.18", "2.17", "2.16", "2.15", "2.14"] if cache else ["2.17", "2.15"]
    middle = ["2.13", "2.12", "2.11", "2.10", "2.9", "2.8"] if multistore else ["2.9"]
    return [*newest, *middle, "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"]


def versions_document(base_url: str, *, multistore: bool, cache: bool) -> Schema:
    """Body of GET / (300) and GET /versions (200): the newest version is CURRENT."""
    numbers = advertised_versions(multistore=multistore, cache=cache)
    return {"versions": [
        _version(number, "CURRENT" if index == 0 else "SUPPORTED", base_url)
        for index, number in enumerate(numbers)
    ]}
