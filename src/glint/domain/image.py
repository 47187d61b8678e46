"""Image entities: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ImageStatus(StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    DELETED = "deleted"
    PENDING_DELETE = "pending_delete"


class Visibility(StrEnum):
    PUBLIC = "public"
    COMMUNITY = "community"
    SHARED = "shared"
    PRIVATE = "private"


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Location:
    """Where a store keeps an image's data."""

    url: str
    store: str
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass
class Image:
    id: str
    status: ImageStatus
    visibility: Visibility
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    owner: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    protected: bool = False
    os_hidden: bool = False
    tags: set[str] = field(default_factory=set)
    properties: dict[str, str] = field(default_factory=dict)
    locations: list[Location] = field(default_factory=list)


@dataclass(frozen=True)
class Member:
    image_id: str
    member_id: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime
