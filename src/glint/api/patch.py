"""JSON-patch request bodies (both Glance media types) turned into Changes.

Paths are one level deep (`/name`), except the image's locations: `add` and
`remove` address `/locations/<position>` and `replace` the whole `/locations`
(see glint.domain.location_rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glint.api.validation import ImageValidator
from glint.domain.errors import InvalidInput, UnsupportedMediaType
from glint.domain.image_rules import Change, PatchOp, check_settable
from glint.domain.location_rules import LocationChange, check_path_depth

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
PATCH_MEDIA_TYPES = (PATCH_V21, PATCH_V20)


def media_type(content_type: str | None) -> str:
    """The patch flavour, or UnsupportedMediaType (415 with Accept-Patch)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in PATCH_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {kind or '(none)'}; use one of {', '.join(PATCH_MEDIA_TYPES)}",
            accepted=PATCH_MEDIA_TYPES,
        )
    return kind


@dataclass(frozen=True)
class ImagePatch:
    """A parsed patch: attribute changes and location changes, each in request order."""

    changes: list[Change] = field(default_factory=list)
    locations: list[LocationChange] = field(default_factory=list)


def decode_pointer(path: Any) -> list[str]:
    """A JSON pointer (RFC 6901) to the names it addresses: one, or two for
    `/locations/<position>`."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"Json path should start with a '/', got {path!r}")
    raw = path[1:]
    if not raw:
        raise InvalidInput("Json path must name an attribute")
    if "~" in raw.replace("~0", "").replace("~1", ""):
        raise InvalidInput(f"Invalid escape sequence in json path: {path}")
    parts = raw.split("/")
    if len(parts) > 1 and (parts[0] != "locations" or len(parts) > 2 or not all(parts)):
        raise InvalidInput(f"Nested paths are not allowed: {path}")
    return [part.replace("~1", "/").replace("~0", "~") for part in parts]


def parse_patch(kind: str, body: Any, validator: ImageValidator) -> ImagePatch:
    """Parse and validate every operation before any is applied."""
    if not isinstance(body, list):
        raise InvalidInput("Request body must be a JSON array of operation objects.")
    patch = ImagePatch()
    for item in body:
        operation = _operation(kind, item)
        op, parts, value = operation.op, operation.parts, operation.value
        if parts[0] == "locations":
            check_path_depth(op, parts)
            if op == PatchOp.REPLACE:
                validator.check_value("locations", value)
            elif op == PatchOp.ADD:
                validator.check_value("locations", [value])
            patch.locations.append(LocationChange(
                op=op, position=parts[1] if len(parts) > 1 else None, value=value))
            continue
        change = Change(op=op, name=parts[0], value=value, strict_add=kind == PATCH_V20)
        check_settable(change.name, creating=False)
        if change.op != PatchOp.REMOVE:
            validator.check_value(change.name, change.value)
        patch.changes.append(change)
    return patch


@dataclass(frozen=True)
class _Operation:
    op: PatchOp
    parts: list[str]
    value: Any


def _operation(kind: str, item: Any) -> _Operation:
    if not isinstance(item, dict):
        raise InvalidInput("Operations must be JSON objects.")
    if kind == PATCH_V21:
        try:
            op = PatchOp(str(item.get("op")))
        except ValueError:
            raise InvalidInput(
                f"Invalid operation: {item.get('op')!r}; use add, replace or remove"
            ) from None
        path = item.get("path")
        if op != PatchOp.REMOVE and "value" not in item:
            raise InvalidInput(f"Operation '{op}' requires a member named 'value'.")
        allowed = {"op", "path", "value"}
    else:
        ops = [key for key in item if key in ("add", "replace", "remove")]
        if len(ops) != 1:
            raise InvalidInput("Operation objects must contain exactly one of add, replace, remove.")
        op = PatchOp(ops[0])
        path = item[ops[0]]
        if op != PatchOp.REMOVE and "value" not in item:
            raise InvalidInput(f"Operation '{op}' requires a member named 'value'.")
        allowed = {ops[0], "value"}
    extra = set(item) - allowed
    if extra:
        raise InvalidInput(f"Operation objects contain unknown members: {', '.join(sorted(extra))}")
    return _Operation(op, decode_pointer(path), item.get("value"))
