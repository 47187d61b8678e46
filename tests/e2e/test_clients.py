"""The stock `openstack` and `glance` clients drive Glint end to end."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from tests.e2e.conftest import Cli
from tests.formats import crafted


def _payload(tmp_path: Path, size: int = 3 * 1024 * 1024 + 5) -> tuple[Path, bytes]:
    # Uploads are format-inspected: a qcow2 header makes it a valid qcow2 (and raw) image.
    data = crafted.qcow2_with(os.urandom(size))
    path = tmp_path / "cirros.img"
    path.write_bytes(data)
    return path, data


def _properties(shown: dict[str, object]) -> dict[str, object]:
    properties = shown.get("properties") or {}
    assert isinstance(properties, dict)
    return properties


def test_openstack_create_list_show_save(cli: Cli, tmp_path: Path) -> None:
    path, data = _payload(tmp_path)
    created = cli.openstack_json("image", "create", "cirros", "--file", str(path),
                                 "--disk-format", "qcow2", "--container-format", "bare",
                                 "--public")
    image_id = created["id"]
    assert created["status"] == "active"
    listed = cli.openstack_json("image", "list")
    assert {"ID": image_id, "Name": "cirros", "Status": "active"} in listed
    shown = cli.openstack_json("image", "show", image_id)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["size"] == len(data)
    assert shown["visibility"] == "public"
    hash_value = shown.get("os_hash_value") or _properties(shown).get("os_hash_value")
    assert hash_value == hashlib.sha512(data).hexdigest()
    out = tmp_path / "saved.img"
    cli.openstack("image", "save", "--file", str(out), image_id)
    assert out.read_bytes() == data
    cli.openstack("image", "delete", image_id)
    assert image_id not in cli.openstack("image", "list")


def test_openstack_properties_tags_members_deactivate(cli: Cli, tmp_path: Path) -> None:
    path, _ = _payload(tmp_path, 1024)
    image_id = cli.openstack_json("image", "create", "props", "--file", str(path),
                                  "--disk-format", "raw", "--container-format", "bare",
                                  "--shared")["id"]
    cli.openstack("image", "set", "--property", "hw_disk_bus=scsi", "--tag", "gold", image_id)
    shown = cli.openstack_json("image", "show", image_id)
    assert _properties(shown)["hw_disk_bus"] == "scsi"
    assert "gold" in shown["tags"]
    cli.openstack("image", "unset", "--property", "hw_disk_bus", "--tag", "gold", image_id)
    shown = cli.openstack_json("image", "show", image_id)
    assert "hw_disk_bus" not in _properties(shown) and "gold" not in shown["tags"]

    # `openstack image add project` resolves the project name in Keystone, which a
    # deployment without Keystone lacks (as with Glance); the glance client shares by id.
    project = uuid.uuid4().hex
    cli.glance("member-create", image_id, project)
    members = cli.openstack_json("image", "member", "list", image_id)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(project, "pending")]
    cli.glance("member-update", image_id, project, "accepted")
    members = cli.openstack_json("image", "member", "list", image_id)
    assert members[0]["Status"] == "accepted"
    assert project in cli.glance("member-list", "--image-id", image_id)
    cli.glance("member-delete", image_id, project)
    assert cli.openstack_json("image", "member", "list", image_id) == []

    cli.openstack("image", "set", "--deactivate", image_id)
    assert cli.openstack_json("image", "show", image_id)["status"] == "deactivated"
    cli.openstack("image", "set", "--activate", image_id)
    assert cli.openstack_json("image", "show", image_id)["status"] == "active"
    cli.openstack("image", "delete", image_id)


def test_glance_client(cli: Cli, tmp_path: Path) -> None:
    path, data = _payload(tmp_path, 2 * 1024 * 1024)
    created = cli.glance("image-create", "--name", "via-glance", "--disk-format", "raw",
                         "--container-format", "bare", "--file", str(path))
    image_id = next(line.split("|")[2].strip() for line in created.splitlines()
                    if line.startswith("| id "))
    assert "via-glance" in cli.glance("image-list")
    shown = cli.glance("image-show", image_id)
    assert hashlib.md5(data).hexdigest() in shown
    # glance wraps long values over several table rows; join them back.
    assert hashlib.sha512(data).hexdigest() in "".join(shown.replace("|", " ").split())
    out = tmp_path / "out.img"
    cli.glance("image-download", image_id, "--file", str(out))
    assert out.read_bytes() == data
    cli.glance("image-update", image_id, "--property", "color=blue")
    assert "blue" in cli.glance("image-show", image_id)
    cli.glance("image-tag-update", image_id, "silver")
    assert "silver" in cli.glance("image-show", image_id)
    cli.glance("image-deactivate", image_id)
    cli.glance("image-reactivate", image_id)
    cli.glance("image-delete", image_id)
    assert image_id not in cli.glance("image-list")


def test_clients_show_the_servers_error_messages(cli: Cli, tmp_path: Path) -> None:
    missing = str(uuid.uuid4())
    shown = cli.glance_fails("image-show", missing)
    assert f"No image found with ID {missing}" in shown and "Traceback" not in shown
    assert "has no attribute" not in shown
    path, _ = _payload(tmp_path, 1024)
    image_id = cli.openstack_json("image", "create", "kept", "--file", str(path),
                                  "--disk-format", "raw", "--container-format", "bare",
                                  "--protected")["id"]
    refused = cli.glance_fails("image-delete", image_id)  # glance's own words for a 403
    assert "not permitted to delete" in refused and "has no attribute" not in refused
    refused = cli.openstack_fails("image", "delete", image_id)
    assert "is protected" in refused
    cli.openstack("image", "set", "--unprotected", image_id)
    cli.openstack("image", "delete", image_id)
