"""Request bodies checked against the same schema documents clients download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator

from glint.domain.errors import InvalidInput


@dataclass
class ImageValidator:
    """Validates image create bodies and single property values."""

    schema: dict[str, Any]

    def __post_init__(self) -> None:
        # Glance validates writes against the schema minus its read-only parts.
        writable = {
            name: spec for name, spec in self.schema["properties"].items()
            if not spec.get("readOnly")
        }
        self._properties = writable
        self._document = Draft4Validator({
            "type": "object",
            "properties": writable,
            "additionalProperties": self.schema.get("additionalProperties", {"type": "string"}),
        })

    def check_document(self, body: dict[str, Any]) -> None:
        for name in body:
            if len(name) > 255:
                raise InvalidInput(f"Provided object does not match schema 'image': "
                                   f"property name {name[:32]}... is longer than 255 characters")
        error = next(iter(sorted(self._document.iter_errors(body), key=str)), None)
        if error is not None:
            raise InvalidInput(f"Provided object does not match schema 'image': {error.message}")

    def check_value(self, name: str, value: Any) -> None:
        if len(name) > 255:
            raise InvalidInput(f"Property name {name[:32]}... is longer than 255 characters")
        spec = self._properties.get(name)
        if spec is None:
            if not isinstance(value, str):
                raise InvalidInput(f"Value of property {name} must be a string, got {value!r}")
            return
        error = next(iter(Draft4Validator(spec).iter_errors(value)), None)
        if error is not None:
            raise InvalidInput(f"Provided object does not match schema 'image': {name}: "
                               f"{error.message}")
