"""A request to create an image, typed: what POST /v2/images (or a legacy
import task) asks for once the HTTP edge has checked the body against the
image schema and for read-only and reserved names."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from glint.domain.image import Image, ImageStatus, Visibility
from glint.domain.image_rules import BASE_ATTRIBUTES, IGNORED_ON_CREATE, apply_base, set_property

# Base attributes a create body sets as they are.
SIMPLE_ATTRIBUTES = ("name", "disk_format", "container_format", "min_disk", "min_ram",
                     "protected", "os_hidden")


@dataclass(frozen=True)
class NewImage:
    """`owner` is the project to own the image: the caller's unless the body
    names one (None when it names none, as `"owner": null` does)."""

    owner: str | None
    id: str | None = None
    name: str | None = None
    visibility: Visibility = Visibility.SHARED
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    protected: bool = False
    os_hidden: bool = False
    tags: frozenset[str] = frozenset()
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any], caller_project: str | None) -> NewImage:
        """The request in a checked create body. Attributes Glance drops on
        create (os_hash_algo, os_hash_value) are dropped."""
        given = {name: body[name] for name in SIMPLE_ATTRIBUTES if name in body}
        return cls(
            owner=body["owner"] if "owner" in body else caller_project,
            id=str(body["id"]) if body.get("id") else None,
            visibility=Visibility(body.get("visibility", Visibility.SHARED)),
            tags=frozenset(body.get("tags") or ()),
            properties={name: value for name, value in body.items()
                        if name not in BASE_ATTRIBUTES and name not in IGNORED_ON_CREATE},
            **given,
        )

    def image(self, when: datetime) -> Image:
        """The queued image this request makes, created at `when`. Raises
        InvalidInput for a minimum out of range or a property value too long."""
        image = Image(
            id=self.id or str(uuid.uuid4()), status=ImageStatus.QUEUED,
            visibility=self.visibility, created_at=when, updated_at=when,
            owner=self.owner, name=self.name, disk_format=self.disk_format,
            container_format=self.container_format, protected=self.protected,
            os_hidden=self.os_hidden, tags=set(self.tags),
        )
        apply_base(image, "min_disk", self.min_disk)
        apply_base(image, "min_ram", self.min_ram)
        for name, value in self.properties.items():
            set_property(image, name, value)
        return image
