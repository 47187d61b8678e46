"""The stock `glance md-*` commands drive Glint's metadata definitions end to end."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Cli

NS = "/v2/metadefs/namespaces"


@pytest.fixture
def namespace(cli: Cli) -> str:
    name = f"Test::Client::{uuid.uuid4().hex[:8]}"
    out = cli.glance("md-namespace-create", name, "--display-name", "Client test",
                     "--description", "made by glance", "--visibility", "public")
    assert name in out and "Client test" in out
    return name


def _get(cli: Cli, path: str) -> dict[str, object]:
    response = httpx.get(cli.url + path, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_namespace_commands(cli: Cli, namespace: str, tmp_path: Path) -> None:
    assert namespace in cli.glance("md-namespace-list")
    assert namespace in cli.glance("md-namespace-list", "--visibility", "public")
    shown = cli.glance("md-namespace-show", namespace)
    assert "made by glance" in shown and "public" in shown
    renamed = namespace + "::Renamed"
    out = cli.glance("md-namespace-update", namespace, "--namespace", renamed,
                     "--display-name", "Renamed")
    assert renamed in out and "Renamed" in out
    assert _get(cli, f"{NS}/{renamed}")["display_name"] == "Renamed"
    document = {"namespace": namespace + "::Imported", "visibility": "public",
                "properties": {"p": {"title": "P", "type": "string"}},
                "tags": [{"name": "imported"}]}
    path = tmp_path / "ns.json"
    path.write_text(json.dumps(document))
    out = cli.glance("md-namespace-import", "--file", str(path))
    assert document["namespace"] in out and "imported" in out
    cli.glance("md-namespace-delete", renamed)
    cli.glance("md-namespace-delete", str(document["namespace"]))
    assert renamed not in cli.glance("md-namespace-list")


def test_resource_type_commands(cli: Cli, namespace: str) -> None:
    resource_type = f"Test::Client::Type{uuid.uuid4().hex[:6]}"
    out = cli.glance("md-resource-type-associate", namespace, "--name", resource_type,
                     "--prefix", "client_", "--properties-target", "image")
    assert resource_type in out and "client_" in out
    assert resource_type in cli.glance("md-resource-type-list")
    assert resource_type in cli.glance("md-namespace-resource-type-list", namespace)
    assert namespace in cli.glance("md-namespace-list", "--resource-types", resource_type)
    cli.glance("md-property-create", namespace, "--name", "speed", "--title", "Speed",
               "--type", "integer", "--schema", '{"minimum": 1}')
    assert "client_speed" in cli.glance("md-namespace-show", namespace,
                                        "--resource-type", resource_type)
    cli.glance("md-resource-type-deassociate", namespace, resource_type)
    assert resource_type not in cli.glance("md-namespace-resource-type-list", namespace)


def test_property_commands(cli: Cli, namespace: str) -> None:
    out = cli.glance("md-property-create", namespace, "--name", "bus", "--title", "Bus",
                     "--type", "string", "--schema",
                     '{"enum": ["virtio", "scsi"], "description": "Disk bus"}')
    assert "virtio" in out and "Disk bus" in out
    assert "bus" in cli.glance("md-property-list", namespace)
    assert "scsi" in cli.glance("md-property-show", namespace, "bus")
    out = cli.glance("md-property-update", namespace, "bus", "--name", "disk_bus",
                     "--title", "Disk bus", "--schema",
                     '{"type": "string", "enum": ["virtio", "ide"]}')
    assert "disk_bus" in out and "ide" in out
    properties = _get(cli, f"{NS}/{namespace}/properties")["properties"]
    assert isinstance(properties, dict) and set(properties) == {"disk_bus"}
    cli.glance("md-property-delete", namespace, "disk_bus")
    cli.glance("md-property-create", namespace, "--name", "x", "--title", "X",
               "--type", "boolean", "--schema", "{}")
    cli.glance("md-namespace-properties-delete", namespace)
    assert _get(cli, f"{NS}/{namespace}/properties") == {"properties": {}}


def test_object_commands(cli: Cli, namespace: str) -> None:
    schema = {"description": "CPU limits", "required": ["shares"],
              "properties": {"shares": {"title": "Shares", "type": "integer"}}}
    out = cli.glance("md-object-create", namespace, "--name", "Limits",
                     "--schema", json.dumps(schema))
    assert "Limits" in out and "shares" in out
    assert "Limits" in cli.glance("md-object-list", namespace)
    assert "CPU limits" in cli.glance("md-object-show", namespace, "Limits")
    assert "integer" in cli.glance("md-object-property-show", namespace, "Limits", "shares")
    out = cli.glance("md-object-update", namespace, "Limits", "--name", "Quota")
    assert "Quota" in out
    shown = _get(cli, f"{NS}/{namespace}/objects/Quota")
    assert shown["description"] == "CPU limits" and shown["required"] == ["shares"]
    cli.glance("md-object-delete", namespace, "Quota")
    cli.glance("md-object-create", namespace, "--name", "Other", "--schema", "{}")
    cli.glance("md-namespace-objects-delete", namespace)
    assert _get(cli, f"{NS}/{namespace}/objects")["objects"] == []


def test_tag_commands(cli: Cli, namespace: str) -> None:
    assert "first" in cli.glance("md-tag-create", namespace, "--name", "first")
    out = cli.glance("md-tag-create-multiple", namespace, "--names", "a,b", "--delim", ",")
    assert "a" in out and "b" in out
    listed = cli.glance("md-tag-list", namespace)
    assert "first" not in listed  # a bulk create replaces the tags
    # `md-tag-create-multiple --append` fails inside python-glanceclient itself (it sends
    # the header value as a boolean: "quote_from_bytes() expected bytes"), so append by hand.
    appended = httpx.post(f"{cli.url}{NS}/{namespace}/tags", json={"tags": [{"name": "c"}]},
                          headers={"X-Openstack-Append": "True"}, timeout=30)
    assert appended.status_code == 201, appended.text
    names = {t["name"] for t in _get(cli, f"{NS}/{namespace}/tags")["tags"]}  # type: ignore[union-attr]
    assert names == {"a", "b", "c"}
    assert "created_at" in cli.glance("md-tag-show", namespace, "a")
    assert "renamed" in cli.glance("md-tag-update", namespace, "a", "--name", "renamed")
    cli.glance("md-tag-delete", namespace, "renamed")
    cli.glance("md-namespace-tags-delete", namespace)
    assert _get(cli, f"{NS}/{namespace}/tags") == {"tags": []}
