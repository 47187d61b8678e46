"""Schema and versions documents: their structure, and that real responses validate."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from glint.api import schema_documents as docs

REPO = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = REPO / "tests" / ".clients" / "bin" / "python"

IMAGE_ID = "1bea47ed-f6a9-463b-b423-14b9cca9ad27"

# An image as Glance 33 shows it: base attributes, a custom property, no `direct_url`.
GLANCE_IMAGE = {
    "status": "active", "name": "cirros-0.6.2-x86_64-disk", "tags": ["test"],
    "container_format": "bare", "created_at": "2026-09-08T10:00:00Z", "disk_format": "qcow2",
    "updated_at": "2026-09-08T10:00:05Z", "visibility": "public",
    "self": f"/v2/images/{IMAGE_ID}", "min_disk": 0, "protected": False, "id": IMAGE_ID,
    "file": f"/v2/images/{IMAGE_ID}/file", "checksum": "c5d2a2ae8f0da5a0a1f2ab1a5e2a5b4c",
    "os_hash_algo": "sha512", "os_hash_value": "a" * 128, "os_hidden": False,
    "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "size": 21430272, "virtual_size": 117440512,
    "min_ram": 0, "schema": "/v2/schemas/image", "os_distro": "cirros",
    "hw_disk_bus": "virtio", "kernel_id": None,
}

BASE_NAMES = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "container_format", "disk_format",
    "created_at", "updated_at", "tags", "direct_url", "min_ram", "min_disk", "self", "file",
    "stores", "schema", "locations",
}
CUSTOM_NAMES = {"kernel_id", "ramdisk_id", "instance_uuid", "architecture", "os_distro",
                "os_version", "description"}
SCHEMA_READ_ONLY = {"status", "checksum", "os_hash_algo", "os_hash_value", "size",
                    "virtual_size", "created_at", "updated_at", "direct_url", "self", "file",
                    "stores", "schema"}


def all_documents() -> dict[str, dict[str, Any]]:
    return {"image": docs.image_schema(), "images": docs.images_schema(),
            "member": docs.member_schema(), "members": docs.members_schema(),
            "task": docs.task_schema(), "tasks": docs.tasks_schema()}


def test_image_schema_properties_and_markers() -> None:
    schema = docs.image_schema()
    properties = schema["properties"]
    assert schema["name"] == "image"
    assert set(properties) == BASE_NAMES | CUSTOM_NAMES
    assert {name for name, spec in properties.items() if spec.get("readOnly")} == SCHEMA_READ_ONLY
    assert all(spec["readOnly"] is True for name, spec in properties.items()
               if name in SCHEMA_READ_ONLY)
    assert schema["additionalProperties"] == {"type": "string"}
    assert schema["links"] == [{"rel": "self", "href": "{self}"},
                               {"rel": "enclosure", "href": "{file}"},
                               {"rel": "describedby", "href": "{schema}"}]
    assert "required" not in schema


def test_image_schema_enums_and_types() -> None:
    properties = docs.image_schema()["properties"]
    assert properties["status"]["enum"] == [
        "queued", "saving", "active", "killed", "deleted", "uploading", "importing",
        "pending_delete", "deactivated"]
    assert sorted(properties["visibility"]["enum"]) == ["community", "private", "public", "shared"]
    assert properties["container_format"] == {**properties["container_format"],
                                              "type": ["null", "string"],
                                              "enum": [None, "ami", "ari", "aki", "bare", "ovf",
                                                       "ova", "docker", "compressed"]}
    assert properties["disk_format"]["enum"] == [None, "ami", "ari", "aki", "vhd", "vhdx", "vmdk",
                                                 "raw", "qcow2", "vdi", "iso", "ploop"]
    assert properties["id"]["pattern"] == docs.UUID_PATTERN
    assert properties["size"]["type"] == properties["virtual_size"]["type"] == ["null", "integer"]
    assert properties["min_ram"] == {**properties["min_ram"], "type": "integer"}
    assert "minimum" not in properties["min_ram"]  # negative values are refused elsewhere
    assert properties["tags"]["items"] == {"type": "string", "maxLength": 255}
    location = properties["locations"]["items"]
    assert location["required"] == ["url", "metadata"]
    assert location["properties"]["validation_data"]["writeOnly"] is True
    assert location["properties"]["validation_data"]["required"] == ["os_hash_algo",
                                                                     "os_hash_value"]


def test_formats_come_from_configuration() -> None:
    properties = docs.image_schema(disk_formats=("raw", "qcow2"),
                                   container_formats=("bare",))["properties"]
    assert properties["disk_format"]["enum"] == [None, "raw", "qcow2"]
    assert properties["container_format"]["enum"] == [None, "bare"]


def test_custom_properties_are_not_base() -> None:
    properties = docs.image_schema()["properties"]
    for name in CUSTOM_NAMES:
        assert properties[name]["is_base"] is False, name
    for name in BASE_NAMES:
        assert "is_base" not in properties[name], name
    assert properties["kernel_id"]["type"] == ["null", "string"]
    assert properties["kernel_id"]["pattern"] == docs.UUID_PATTERN
    assert set(docs.image_schema(custom=docs.NO_CUSTOM_IMAGE_PROPERTIES)["properties"]) == BASE_NAMES


def test_operator_properties_and_required() -> None:
    custom = docs.custom_properties_from_document({
        "properties": {"hw_cpu_cores": {"type": "string", "is_base": True}},
        "required": ["hw_cpu_cores"]})
    schema = docs.image_schema(custom=custom)
    assert schema["properties"]["hw_cpu_cores"] == {"type": "string", "is_base": False}
    assert schema["required"] == ["hw_cpu_cores"]
    assert list(schema) == ["name", "properties", "additionalProperties", "required", "links"]
    assert docs.images_schema(custom=custom)["properties"]["images"]["items"]["required"] == [
        "hw_cpu_cores"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x"}, schema)


def test_custom_properties_documents() -> None:
    flat = docs.custom_properties_from_document({"a": {"type": "string"}})
    assert flat == docs.CustomImageProperties(properties={"a": {"type": "string"}})
    empty_required = docs.custom_properties_from_document({"properties": {}, "required": []})
    assert empty_required.required == ()
    assert "required" not in docs.image_schema(custom=empty_required)
    malformed: list[object] = [[], {"a": "string"}, {"properties": {"a": {}}, "required": "a"}]
    for bad in malformed:
        with pytest.raises(ValueError):
            docs.custom_properties_from_document(bad)


def test_custom_property_may_not_redefine_a_base_attribute() -> None:
    custom = docs.CustomImageProperties(properties={"name": {"type": "string"}})
    with pytest.raises(ValueError, match="name"):
        docs.image_schema(custom=custom)


def test_closed_schema_refuses_unknown_properties() -> None:
    schema = docs.image_schema(extra_properties_allowed=False)
    assert schema["additionalProperties"] is False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"hw_disk_bus": "virtio"}, schema)


def test_documents_are_fresh_copies() -> None:
    first = docs.image_schema()
    first["properties"]["kernel_id"]["pattern"] = "changed"
    first["properties"]["status"]["enum"].append("changed")
    again = docs.image_schema()
    assert again["properties"]["kernel_id"]["pattern"] == docs.UUID_PATTERN
    assert "changed" not in again["properties"]["status"]["enum"]


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_documents_are_valid_draft4_and_json(name: str) -> None:
    document = all_documents()[name]
    jsonschema.Draft4Validator.check_schema(document)
    assert json.loads(json.dumps(document)) == document
    assert document["name"] == name


def test_typical_image_validates() -> None:
    schema = docs.image_schema()
    jsonschema.validate(GLANCE_IMAGE, schema)
    queued = {**GLANCE_IMAGE, "status": "queued", "checksum": None, "os_hash_algo": None,
              "os_hash_value": None, "size": None, "virtual_size": None,
              "container_format": None, "disk_format": None, "name": None}
    jsonschema.validate(queued, schema)
    with_locations = {**GLANCE_IMAGE, "direct_url": "file:///var/lib/glance/images/x",
                      "stores": "fast,cheap",
                      "locations": [{"url": "file:///var/lib/glance/images/x",
                                     "metadata": {"store": "fast"}}]}
    jsonschema.validate(with_locations, schema)
    page = {"images": [GLANCE_IMAGE, queued], "first": "/v2/images",
            "next": f"/v2/images?marker={IMAGE_ID}", "schema": "/v2/schemas/images"}
    jsonschema.validate(page, docs.images_schema())


@pytest.mark.parametrize("change", [
    {"hw_disk_bus": 1}, {"kernel_id": "not-a-uuid"}, {"status": "gone"},
    {"disk_format": "exe"}, {"tags": ["x" * 256]}, {"min_ram": "1"}, {"visibility": "open"},
    {"locations": [{"url": "file:///x"}]},
])
def test_invalid_images_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**GLANCE_IMAGE, **change}, docs.image_schema())


def test_member_and_task_documents_are_minimal() -> None:
    member, members = docs.member_schema(), docs.members_schema()
    assert list(member) == ["name", "properties"]
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    assert member["properties"]["schema"] == {"readOnly": True, "type": "string"}
    assert set(members["properties"]) == {"members", "schema"}
    assert members["links"] == [{"rel": "describedby", "href": "{schema}"}]
    assert members["properties"]["members"]["items"] == member

    task, tasks = docs.task_schema(), docs.tasks_schema()
    assert list(task) == ["name", "properties"]
    assert task["properties"]["type"]["enum"] == ["import", "api_image_import", "location_import"]
    assert task["properties"]["status"]["enum"] == ["pending", "processing", "success", "failure"]
    assert task["properties"]["input"]["type"] == ["null", "object"]
    listed = tasks["properties"]["tasks"]["items"]["properties"]
    assert set(task["properties"]) - set(listed) == {"input", "result", "message"}
    assert set(tasks["properties"]) == {"tasks", "schema"}


def test_typical_member_and_task_validate() -> None:
    member = {"member_id": "8989447062e04a818baf9e073fd04fa7", "image_id": IMAGE_ID,
              "status": "pending", "created_at": "2026-09-08T10:00:00Z",
              "updated_at": "2026-09-08T10:00:00Z", "schema": "/v2/schemas/member"}
    jsonschema.validate(member, docs.member_schema())
    jsonschema.validate({"members": [member], "schema": "/v2/schemas/members"},
                        docs.members_schema())
    task = {"id": "ee22890e-8948-4ea6-9668-831f973c84f5", "type": "location_import",
            "status": "success", "input": {"image_id": IMAGE_ID}, "result": None,
            "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "message": "", "image_id": IMAGE_ID,
            "expires_at": None, "created_at": "2026-09-08T10:00:00Z",
            "updated_at": "2026-09-08T10:00:05Z", "self": "/v2/tasks/x",
            "schema": "/v2/schemas/task"}
    jsonschema.validate(task, docs.task_schema())
    stub = {k: v for k, v in task.items() if k not in ("input", "result", "message")}
    jsonschema.validate({"tasks": [stub], "first": "/v2/tasks", "schema": "/v2/schemas/tasks"},
                        docs.tasks_schema())


GLANCE_ORDER = {
    (False, False): ["2.15", "2.9", "2.17", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1",
                     "2.0"],
    (False, True): ["2.18", "2.17", "2.16", "2.15", "2.14", "2.9", "2.7", "2.6", "2.5", "2.4",
                    "2.3", "2.2", "2.1", "2.0"],
    (True, False): ["2.15", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.17", "2.7", "2.6",
                    "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"],
    (True, True): ["2.18", "2.17", "2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9",
                   "2.8", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"],
}


@pytest.mark.parametrize("multistore,cache", sorted(GLANCE_ORDER))
def test_versions_document(multistore: bool, cache: bool) -> None:
    document = docs.versions_document("http://glance.example:9292", multistore=multistore,
                                      cache=cache)
    entries = document["versions"]
    assert [entry["id"] for entry in entries] == [f"v{n}" for n in GLANCE_ORDER[multistore, cache]]
    current = [entry["id"] for entry in entries if entry["status"] == "CURRENT"]
    assert current == ["v2.18" if cache else "v2.17"]
    assert {entry["status"] for entry in entries} == {"CURRENT", "SUPPORTED"}
    assert all(entry["links"] == [{"rel": "self", "href": "http://glance.example:9292/v2/"}]
               and list(entry) == ["id", "status", "links"] for entry in entries)
    ids = {entry["id"] for entry in entries}
    assert ("v2.8" in ids, "v2.14" in ids) == (multistore, cache)
    assert docs.advertised_versions(multistore=multistore, cache=cache) == GLANCE_ORDER[
        multistore, cache]


@pytest.mark.parametrize("base_url,href", [
    ("http://h:9292/", "http://h:9292/v2/"),
    ("https://cloud.example/image", "https://cloud.example/image/v2/"),
])
def test_versions_links_follow_the_base_url(base_url: str, href: str) -> None:
    document = docs.versions_document(base_url, multistore=False, cache=False)
    assert {entry["links"][0]["href"] for entry in document["versions"]} == {href}


def test_attribute_sets_agree_with_the_schema() -> None:
    properties = docs.image_schema(custom=docs.NO_CUSTOM_IMAGE_PROPERTIES)["properties"]
    assert docs.READ_ONLY_IMAGE_ATTRIBUTES - {"id"} == SCHEMA_READ_ONLY - {"stores"}
    assert docs.BASE_IMAGE_ATTRIBUTES <= set(properties)
    assert not docs.BASE_IMAGE_ATTRIBUTES & {"os_hash_algo", "os_hash_value", "locations",
                                             "stores"}
    assert not (docs.RESERVED_IMAGE_ATTRIBUTES | {"deleted"}) & set(properties)
    assert docs.CREATE_DISALLOWED_IMAGE_ATTRIBUTES <= SCHEMA_READ_ONLY
    assert docs.CREATE_READ_ONLY_IMAGE_ATTRIBUTES <= docs.BASE_IMAGE_ATTRIBUTES
    assert docs.CREATE_RESERVED_IMAGE_ATTRIBUTES == {"location", "locations", "deleted",
                                                     "deleted_at"}
    assert all(name.startswith(docs.RESERVED_PROPERTY_PREFIX)
               for name in docs.HIDDEN_IMAGE_PROPERTIES)


def test_every_property_gives_the_glance_cli_an_option() -> None:
    # glanceclient's schema_args: first non-null type, and arrays need items.type.
    for name, spec in docs.image_schema()["properties"].items():
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        first = next(t for t in types if t != "null")
        assert first in {"string", "integer", "boolean", "array"}, name
        if first == "array":
            assert "type" in spec["items"], name


def run_python(interpreter: Path, script: str, stdin: str) -> Any:
    assert interpreter.exists(), f"{interpreter} is missing: run `make clients`"
    done = subprocess.run([str(interpreter), "-c", textwrap.dedent(script)], input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


GLANCECLIENT_SCRIPT = """
    import json, sys
    import warlock
    from glanceclient.v2 import schemas
    given = json.load(sys.stdin)
    image_model = warlock.model_factory(given["image"], base_class=schemas.SchemaBasedModel)
    image = image_model(**given["body"])
    image.os_version = "22.04"   # declared in schema-image.json: not base
    image.min_ram = 512          # present base attribute
    image.min_disk = 1           # absent base attribute: still a replace
    del image["name"]            # base attribute removed
    schema = schemas.Schema(given["image"])
    member = warlock.model_factory(given["member"], schemas.SchemaBasedModel)(given["membership"])
    task_model = warlock.model_factory(given["task"], base_class=schemas.SchemaBasedModel)
    print(json.dumps({
        "patch": sorted(json.loads(image.patch), key=lambda op: op["path"]),
        "core": [schema.is_core_property(n) for n in ("os_distro", "name", "hw_disk_bus")],
        "base": [schema.is_base_property(n) for n in ("os_distro", "name")],
        "member": member["status"],
        "task": task_model(**given["task_body"])["type"],
    }))
"""


def test_glanceclient_models_and_patches() -> None:
    body = {k: v for k, v in GLANCE_IMAGE.items() if k not in ("self", "min_disk")}
    given = {"image": docs.image_schema(), "body": body, "member": docs.member_schema(),
             "membership": {"member_id": "p", "image_id": IMAGE_ID, "status": "accepted",
                            "created_at": "t", "updated_at": "t",
                            "schema": "/v2/schemas/member"},
             "task": docs.task_schema(),
             "task_body": {"id": "ee22890e-8948-4ea6-9668-831f973c84f5",
                           "type": "api_image_import", "status": "pending", "input": None,
                           "result": None, "owner": "o", "created_at": "t",
                           "updated_at": "t", "schema": "/v2/schemas/task"}}
    result = run_python(CLIENTS_PYTHON, GLANCECLIENT_SCRIPT, json.dumps(given))
    # Absent custom properties are added, absent base ones replaced; tags always replaced.
    assert result["patch"] == [
        {"op": "replace", "path": "/min_disk", "value": 1},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "remove", "path": "/name"},
        {"op": "add", "path": "/os_version", "value": "22.04"},
        {"path": "/tags", "value": ["test"], "op": "replace"},
    ]
    assert result["core"] == [True, True, False]
    assert result["base"] == [False, True]
    assert (result["member"], result["task"]) == ("accepted", "api_image_import")
