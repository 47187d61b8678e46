"""JSON-patch request bodies (both Glance media types) turned into Changes."""

from __future__ import annotations

from typing import Any

from glint.api.validation import ImageValidator
from glint.domain.errors import InvalidInput, UnsupportedMediaType
from glint.domain.image_rules import Change, PatchOp, check_settable

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


def decode_pointer(path: Any) -> str:
    """A one-level JSON pointer (RFC 6901) to the attribute name it addresses."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"Json path should start with a '/', got {path!r}")
    raw = path[1:]
    if not raw:
        raise InvalidInput("Json path must name an attribute")
    if "/" in raw:
        raise InvalidInput(f"Nested paths are not allowed: {path}")
    if "~" in raw.replace("~0", "").replace("~1", ""):
        raise InvalidInput(f"Invalid escape sequence in json path: {path}")
    return raw.replace("~1", "/").replace("~0", "~")


def parse_patch(kind: str, body: Any, validator: ImageValidator) -> list[Change]:
    """Parse and validate every operation before any is applied."""
    if not isinstance(body, list):
        raise InvalidInput("Request body must be a JSON array of operation objects.")
    changes = [_operation(kind, item) for item in body]
    for change in changes:
        check_settable(change.name, creating=False)
        if change.op != PatchOp.REMOVE:
            validator.check_value(change.name, change.value)
    return changes


def _operation(kind: str, item: Any) -> Change:
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
    return Change(op=op, name=decode_pointer(path), value=item.get("value"),
                  strict_add=kind == PATCH_V20)
