"""The /v2/schemas/metadefs/... documents, shaped as Glance 33 serves them.

python-glanceclient builds its metadef models from these and validates every
request and response against them (`additionalProperties: false`), so names,
types, `required` lists and nesting follow Glance; the descriptions are ours.
Glint also checks request bodies against them.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]

VALUE_TYPES = ["array", "boolean", "integer", "number", "object", "string", None]


def _created(what: str) -> Schema:
    return {"type": "string", "description": f"When the {what} was created (read-only)",
            "format": "date-time"}


def _updated(what: str) -> Schema:
    return {"type": "string", "description": f"When the {what} was last changed (read-only)",
            "format": "date-time"}


def _definitions(*, string_array_min_items: bool = False) -> Schema:
    string_array: Schema = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    if string_array_min_items:
        string_array = {"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "uniqueItems": True}
    return {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {
            "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]
        },
        "stringArray": string_array,
    }


def property_fields() -> Schema:
    """The fields of one property definition."""
    return {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": list(VALUE_TYPES)},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": list(VALUE_TYPES)},
                "enum": {"type": "array"},
            },
        },
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _namespace_definitions() -> Schema:
    definitions = _definitions()
    definitions["property"] = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": property_fields(),
        },
    }
    return definitions


def _object(name: str, properties: Schema, required: list[str] | None,
            definitions: Schema | None = None) -> Schema:
    schema: Schema = {"name": name, "properties": properties, "additionalProperties": False}
    if definitions:
        schema["definitions"] = definitions
    if required:
        schema["required"] = required
    return schema


def _collection(name: str, item: Schema, *, keyed: bool = False) -> Schema:
    item = copy.deepcopy(item)
    definitions = item.pop("definitions", None)
    container: Schema = ({"type": "object", "additionalProperties": item} if keyed
                         else {"type": "array", "items": item})
    schema: Schema = {
        "name": name,
        "properties": {
            name: container,
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
    if definitions:
        schema["definitions"] = definitions
    return schema


def namespace_schema() -> Schema:
    properties: Schema = {
        "namespace": {"type": "string", "description": "Unique name of the namespace",
                      "maxLength": 80},
        "display_name": {"type": "string", "description": "Name a user interface shows",
                         "maxLength": 80},
        "description": {"type": "string", "description": "What the namespace defines",
                        "maxLength": 500},
        "visibility": {"type": "string", "description": "Who can see the namespace",
                       "enum": ["public", "private"]},
        "protected": {"type": "boolean",
                      "description": "If true, the namespace cannot be deleted."},
        "owner": {"type": "string", "description": "Project that owns the namespace",
                  "maxLength": 255},
        "created_at": _created("namespace"),
        "updated_at": _updated("namespace"),
        "schema": {"type": "string"},
        "self": {"type": "string"},
        "resource_type_associations": {
            "type": "array",
            "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "prefix": {"type": "string"},
                "properties_target": {"type": "string"},
            }},
        },
        "properties": {"$ref": "#/definitions/property"},
        "objects": {
            "type": "array",
            "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "required": {"$ref": "#/definitions/stringArray"},
                "properties": {"$ref": "#/definitions/property"},
            }},
        },
        "tags": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    }
    return _object("namespace", properties, ["namespace"], _namespace_definitions())


def object_schema() -> Schema:
    properties: Schema = {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": {"type": "string"},
        "self": {"type": "string"},
        "created_at": _created("object"),
        "updated_at": _updated("object"),
    }
    return _object("object", properties, ["name"], _namespace_definitions())


def property_schema(*, require_name: bool = True) -> Schema:
    required = ["type", "title", "name"] if require_name else ["type", "title"]
    return _object("property", property_fields(), required,
                   _definitions(string_array_min_items=True))


def tag_schema() -> Schema:
    properties: Schema = {
        "name": {"type": "string", "maxLength": 80},
        "created_at": {**_created("tag"), "readOnly": True},
        "updated_at": {**_updated("tag"), "readOnly": True},
    }
    return _object("tag", properties, ["name"])


def tags_request_schema() -> Schema:
    """What a bulk tag create body must look like: {"tags": [{"name": ...}]}."""
    items: Schema = {"type": "object", "properties": {"name": {"type": "string"}},
                     "required": ["name"], "additionalProperties": False}
    return _object("tags", {"tags": {"type": "array", "items": items}}, None)


def resource_type_schema() -> Schema:
    properties: Schema = {
        "name": {"type": "string", "maxLength": 80, "description":
                 "Name of the resource type, ideally the Heat resource type (OS::Glance::Image)"},
        "prefix": {"type": "string", "maxLength": 80, "description":
                   "Prefix, separator included, that the namespace's property names take "
                   "when applied to this resource type"},
        "properties_target": {"type": "string", "maxLength": 80, "description":
                              "Which set of key/value pairs of the resource the properties go "
                              "to, where it has several (for example 'image' on volumes)"},
        "created_at": _created("association"),
        "updated_at": _updated("association"),
    }
    return _object("resource_type_association", properties, ["name"])


def metadef_schema_documents() -> dict[str, Schema]:
    """Every metadef schema document by its name under /v2/schemas/metadefs/."""
    return {
        "namespace": namespace_schema(),
        "namespaces": _collection("namespaces", namespace_schema()),
        "object": object_schema(),
        "objects": _collection("objects", object_schema()),
        "property": property_schema(),
        "properties": _collection("properties", property_schema(require_name=False), keyed=True),
        "tag": tag_schema(),
        "tags": _collection("tags", tag_schema()),
        "resource_type": resource_type_schema(),
        "resource_types": _collection("resource_type_associations", resource_type_schema()),
    }
