"""Checking image property values against metadata definitions. Pure.

Image properties are strings; a definition's type says how to read one:
integers and numbers must parse, booleans are true/false (or the other
spellings OpenStack services accept), arrays are comma-separated lists,
objects are JSON objects. Then enum, minimum/maximum, minLength/maxLength,
pattern and the items' constraints apply. A value may start with one of the
definition's operators ("<or> a <or> b" keeps only the first operand check
simple: each operand is checked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from glint.domain.errors import InvalidInput

TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})


class Violation(ValueError):
    """Why a value does not fit its definition."""


def _typed(value: str, kind: str | None) -> Any:
    if kind == "integer":
        try:
            return int(value.strip())
        except ValueError:
            raise Violation(f"{value!r} is not an integer") from None
    if kind == "number":
        try:
            return float(value.strip())
        except ValueError:
            raise Violation(f"{value!r} is not a number") from None
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered not in TRUE_STRINGS | FALSE_STRINGS:
            raise Violation(f"{value!r} is not a boolean (use true or false)")
        return lowered in TRUE_STRINGS
    if kind == "object":
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            raise Violation(f"{value!r} is not a JSON object")
        return parsed
    return value


def _check_scalar(value: str, definition: Mapping[str, Any]) -> None:
    typed = _typed(value, definition.get("type"))
    enum = definition.get("enum")
    if isinstance(enum, list) and enum and typed not in enum and value not in enum:
        raise Violation(f"{value!r} is not one of {', '.join(map(str, enum))}")
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        minimum, maximum = definition.get("minimum"), definition.get("maximum")
        if isinstance(minimum, int | float) and typed < minimum:
            raise Violation(f"{value} is less than the minimum of {minimum}")
        if isinstance(maximum, int | float) and typed > maximum:
            raise Violation(f"{value} is more than the maximum of {maximum}")
    if isinstance(typed, str):
        min_length, max_length = definition.get("minLength"), definition.get("maxLength")
        if isinstance(min_length, int) and len(typed) < min_length:
            raise Violation(f"{value!r} is shorter than {min_length} characters")
        if isinstance(max_length, int) and len(typed) > max_length:
            raise Violation(f"{value!r} is longer than {max_length} characters")
        pattern = definition.get("pattern")
        if isinstance(pattern, str):
            try:
                matched = re.search(pattern, typed) is not None
            except re.error:
                matched = True  # an unusable pattern in a definition is not the caller's fault
            if not matched:
                raise Violation(f"{value!r} does not match the pattern {pattern}")


def _check_array(value: str, definition: Mapping[str, Any]) -> None:
    items = [item.strip() for item in value.split(",") if item.strip()]
    min_items, max_items = definition.get("minItems"), definition.get("maxItems")
    if isinstance(min_items, int) and len(items) < min_items:
        raise Violation(f"{value!r} has fewer than {min_items} items")
    if isinstance(max_items, int) and len(items) > max_items:
        raise Violation(f"{value!r} has more than {max_items} items")
    if definition.get("uniqueItems") and len(set(items)) != len(items):
        raise Violation(f"{value!r} repeats an item")
    item_definition = definition.get("items")
    if isinstance(item_definition, Mapping):
        for item in items:
            _check_scalar(item, item_definition)


def _operands(value: str, operators: Any) -> list[str]:
    if not isinstance(operators, list) or not value.lstrip().startswith("<"):
        return [value]
    parts = re.split(r"(<[^>]*>)", value)
    if not any(part.strip() in operators for part in parts):
        return [value]
    return [part.strip() for part in parts if part.strip() and part.strip() not in operators]


def check_value(name: str, value: str, definition: Mapping[str, Any]) -> None:
    """Raise InvalidInput naming the property when `value` breaks `definition`."""
    try:
        for operand in _operands(value, definition.get("operators")):
            if definition.get("type") == "array":
                _check_array(operand, definition)
            else:
                _check_scalar(operand, definition)
    except Violation as exc:
        raise InvalidInput(f"Property {name} does not fit its metadata definition: {exc}") from None
