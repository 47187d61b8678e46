"""Image property values against metadata definitions: pure rules."""

from __future__ import annotations

from typing import Any

import pytest

from glint.domain.errors import InvalidInput
from glint.domain.metadef_validation import check_value

FITS: list[tuple[dict[str, Any], str]] = [
    ({"type": "string", "enum": ["virtio", "scsi"]}, "virtio"),
    ({"type": "string", "pattern": "^[0-9]+MB$", "maxLength": 6}, "512MB"),
    ({"type": "integer", "minimum": 1, "maximum": 8}, "8"),
    ({"type": "number", "minimum": 0.5}, "0.75"),
    ({"type": "boolean"}, "True"),
    ({"type": "boolean"}, "no"),
    ({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2}, "a, b"),
    ({"type": "object"}, '{"k": 1}'),
    ({"type": "string", "enum": ["x", "y"], "operators": ["<or>"]}, "<or> x <or> y"),
    ({"type": "string"}, "anything at all"),
]
BREAKS: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "string", "enum": ["virtio", "scsi"]}, "floppy", "not one of"),
    ({"type": "string", "pattern": "^[0-9]+$"}, "12a", "pattern"),
    ({"type": "string", "minLength": 3}, "ab", "shorter"),
    ({"type": "string", "maxLength": 3}, "abcd", "longer"),
    ({"type": "integer"}, "1.5", "not an integer"),
    ({"type": "integer", "minimum": 1}, "0", "minimum"),
    ({"type": "number", "maximum": 2}, "2.5", "maximum"),
    ({"type": "boolean"}, "maybe", "boolean"),
    ({"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}, "a,c", "not one of"),
    ({"type": "array", "uniqueItems": True}, "a,a", "repeats"),
    ({"type": "object"}, "[1]", "JSON object"),
    ({"type": "string", "enum": ["x"], "operators": ["<or>"]}, "<or> x <or> z", "not one of"),
]


@pytest.mark.parametrize(("definition", "value"), FITS)
def test_values_that_fit(definition: dict[str, Any], value: str) -> None:
    check_value("hw_thing", value, definition)


@pytest.mark.parametrize(("definition", "value", "reason"), BREAKS)
def test_values_that_break_name_the_property(definition: dict[str, Any], value: str,
                                             reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_value("hw_thing", value, definition)
    assert "hw_thing" in caught.value.message and reason in caught.value.message
