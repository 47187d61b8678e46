"""Images and members as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glint.api.schema_documents import HIDDEN_IMAGE_PROPERTIES
from glint.domain.image import Image, Location, Member
from glint.settings import DisplaySettings


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_body(image: Image, display: DisplaySettings, *, multistore: bool = False) -> dict[str, Any]:
    """The image as the API shows it; with several stores, `stores` lists the ids of
    the stores holding its data and each location names its store."""
    body: dict[str, Any] = {key: value for key, value in image.properties.items()
                            if key not in HIDDEN_IMAGE_PROPERTIES}
    body.update({
        "id": image.id,
        "name": image.name,
        "status": str(image.status),
        "visibility": str(image.visibility),
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "tags": sorted(image.tags),
        "created_at": timestamp(image.created_at),
        "updated_at": timestamp(image.updated_at),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    })
    if display.show_image_direct_url and image.locations:
        body["direct_url"] = image.locations[0].url
    if display.show_multiple_locations:
        body["locations"] = [
            {"url": location.url, "metadata": _location_metadata(location, multistore)}
            for location in image.locations
        ]
    if multistore and image.locations:
        body["stores"] = ",".join(location.store for location in image.locations)
    return body


def _location_metadata(location: Location, multistore: bool) -> dict[str, object]:
    if not multistore:
        return location.metadata
    return {**location.metadata, "store": location.store}


def member_body(member: Member) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": str(member.status),
        "created_at": timestamp(member.created_at),
        "updated_at": timestamp(member.updated_at),
        "schema": "/v2/schemas/member",
    }
