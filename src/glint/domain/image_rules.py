"""Which image attributes callers may set, and how changes apply. Pure rules.

The HTTP edge has already checked value *types* against the image schema;
these functions enforce what Glance enforces beyond that: read-only and
reserved attributes, formats that freeze once data exists, visibility
changes that need a policy, property and tag quotas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from glint.domain.errors import Conflict, Forbidden, InvalidInput, QuotaExceeded
from glint.domain.image import Image, ImageStatus, Visibility
from glint.domain.input_rules import check_text_size

# Computed by Glint; a caller naming them gets 403.
READ_ONLY = frozenset({
    "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
    "created_at", "updated_at", "self", "file", "schema", "direct_url", "stores",
})
# Never settable through the API.
RESERVED = frozenset({"location", "deleted", "deleted_at"})
# Columns of the image itself rather than free-form properties.
BASE_ATTRIBUTES = frozenset({
    "id", "name", "visibility", "protected", "os_hidden", "owner", "container_format",
    "disk_format", "min_ram", "min_disk", "tags",
})
# Silently dropped from a create body, as Glance does.
IGNORED_ON_CREATE = frozenset({"os_hash_algo", "os_hash_value"})
MAX_DB_INTEGER = 2**31 - 1
# Formats may change only while no data has been attached.
FORMAT_EDITABLE_STATUSES = frozenset({ImageStatus.QUEUED, ImageStatus.IMPORTING})


class PatchOp(StrEnum):
    ADD = "add"
    REPLACE = "replace"
    REMOVE = "remove"


@dataclass(frozen=True)
class Change:
    """One JSON-patch operation on a top-level image attribute."""

    op: PatchOp
    name: str
    value: Any = None
    # v2.0 patches: `add` of an existing property is a conflict.
    strict_add: bool = False


def check_settable(name: str, *, creating: bool) -> None:
    """Raise Forbidden for attributes no caller may set."""
    if name in RESERVED or name.startswith("os_glance"):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name in READ_ONLY and not (creating and name in IGNORED_ON_CREATE):
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name == "locations":
        raise Forbidden("Attribute 'locations' is only available through the locations API "
                        "when show_multiple_locations is enabled.")
    if name == "id" and not creating:
        raise Forbidden("Attribute 'id' is read-only.")


def visibility_action(target: Visibility) -> str | None:
    """The extra policy rule needed to give an image this visibility."""
    if target == Visibility.PUBLIC:
        return "publicize_image"
    if target == Visibility.COMMUNITY:
        return "communitize_image"
    return None


def apply_base(image: Image, name: str, value: Any) -> None:
    """Set one base attribute, enforcing the per-attribute rules."""
    if name in ("container_format", "disk_format"):
        if getattr(image, name) != value and image.status not in FORMAT_EDITABLE_STATUSES:
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        setattr(image, name, value)
    elif name in ("min_ram", "min_disk"):
        if not 0 <= value <= MAX_DB_INTEGER:
            raise InvalidInput(f"'{name}' must be between 0 and {MAX_DB_INTEGER}, got {value}")
        setattr(image, name, value)
    elif name == "visibility":
        image.visibility = Visibility(value)
    elif name == "tags":
        image.tags = set(value)
    else:
        setattr(image, name, value)


def apply_changes(image: Image, changes: Iterable[Change]) -> None:
    """Apply JSON-patch changes to `image` in memory (the caller saves once)."""
    for change in changes:
        check_settable(change.name, creating=False)
        if change.name in BASE_ATTRIBUTES:
            if change.op == PatchOp.REMOVE:
                raise Forbidden(f"Properties {change.name} cannot be removed.")
            if change.name == "owner" and change.value is not None and not isinstance(change.value, str):
                raise InvalidInput("owner must be a string")
            apply_base(image, change.name, change.value)
            continue
        present = change.name in image.properties
        if change.op == PatchOp.REMOVE:
            if not present:
                raise Conflict(f"Property {change.name} does not exist.")
            del image.properties[change.name]
            continue
        if change.op == PatchOp.REPLACE and not present:
            raise Conflict(f"Property {change.name} does not exist.")
        if change.op == PatchOp.ADD and change.strict_add and present:
            raise Conflict(f"Property {change.name} already present.")
        if not isinstance(change.value, str):
            raise InvalidInput(f"Value of property {change.name} must be a string.")
        set_property(image, change.name, change.value)


def set_property(image: Image, name: str, value: Any) -> None:
    """Set a free-form property; InvalidInput when a text value passes
    MAX_TEXT_BYTES (MariaDB's TEXT, Glance's column type), on every database."""
    if isinstance(value, str):
        check_text_size(f"The value of property {name}", value)
    image.properties[name] = value


def check_quotas(image: Image, *, property_quota: int, tag_quota: int) -> None:
    """Raise QuotaExceeded when properties or tags pass their quota (negative = unlimited)."""
    if 0 <= property_quota < len(image.properties):
        raise QuotaExceeded(
            f"Maximum number of image properties exceeded ({property_quota} allowed)."
        )
    if 0 <= tag_quota < len(image.tags):
        raise QuotaExceeded(f"Maximum number of tags exceeded ({tag_quota} allowed).")


def check_tag(tag: str) -> None:
    if len(tag) > 255:
        raise InvalidInput(f"Tag {tag[:32]}... is longer than 255 characters.")
