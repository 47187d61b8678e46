"""Image metadata over real HTTP: create, show, update, delete, actions, tags."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Caller
from tests.formats import crafted

PATCH_V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


def test_create_returns_queued_image_with_glance_fields(member: Caller) -> None:
    image = member.create(name="cirros", min_ram=64, tags=["a", "b", "a"], os_distro="cirros")
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["owner"] == member.project_id
    assert image["tags"] == ["a", "b"]
    assert image["os_distro"] == "cirros"
    assert image["min_ram"] == 64 and image["min_disk"] == 0
    assert image["checksum"] is None and image["size"] is None
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert image["created_at"].endswith("Z")


def test_create_sets_location_header(member: Caller) -> None:
    response = member.http.post("/v2/images", json={"name": "x"})
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/v2/images/{response.json()['id']}")
    assert response.headers["x-openstack-request-id"].startswith("req-")


def test_create_with_supplied_id_and_duplicate_conflicts(member: Caller) -> None:
    image_id = str(uuid.uuid4())
    assert member.create(id=image_id)["id"] == image_id
    response = member.http.post("/v2/images", json={"id": image_id})
    assert response.status_code == 409


def test_deleted_image_id_cannot_be_reused(member: Caller) -> None:
    image = member.create()
    assert member.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert member.http.post("/v2/images", json={"id": image["id"]}).status_code == 409


def test_read_only_and_reserved_attributes_are_forbidden(member: Caller) -> None:
    for name, value in [("status", "active"), ("checksum", "x"), ("size", 1),
                        ("created_at", "2020-01-01T00:00:00Z"), ("location", "file:///etc"),
                        ("deleted", True), ("os_glance_import_task", "x"), ("self", "/x")]:
        response = member.http.post("/v2/images", json={name: value})
        assert response.status_code == 403, (name, response.text)


def test_os_hash_fields_in_create_body_are_ignored(member: Caller) -> None:
    image = member.create(os_hash_algo="md5", os_hash_value="abc")
    assert image["os_hash_algo"] is None and image["os_hash_value"] is None


def test_schema_violations_are_400(member: Caller) -> None:
    bad_bodies = [
        {"visibility": "everyone"}, {"min_ram": -1}, {"min_disk": "big"},
        {"disk_format": "floppy"}, {"custom": 5}, {"name": "n" * 256},
        {"protected": "yes"}, {"tags": "notalist"}, {"x" * 256: "v"},
    ]
    for body in bad_bodies:
        response = member.http.post("/v2/images", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["message"]


def test_malformed_and_non_object_bodies_are_400(member: Caller) -> None:
    headers = {"Content-Type": "application/json"}
    assert member.http.post("/v2/images", content=b"{", headers=headers).status_code == 400
    assert member.http.post("/v2/images", content=b"[1]", headers=headers).status_code == 400
    assert member.http.post("/v2/images", content=b"", headers=headers).status_code == 400


def test_show_unknown_or_non_uuid_is_404(member: Caller) -> None:
    assert member.http.get(f"/v2/images/{uuid.uuid4()}").status_code == 404
    response = member.http.get("/v2/images/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["code"] == "404 Not Found"


def test_private_image_of_another_project_is_404_not_403(member: Caller, other: Caller) -> None:
    image = member.create(visibility="private")
    assert other.http.get(f"/v2/images/{image['id']}").status_code == 404
    assert other.patch(image["id"], [{"op": "replace", "path": "/name", "value": "x"}]
                       ).status_code == 404
    assert other.http.delete(f"/v2/images/{image['id']}").status_code == 404


def test_patch_v21_add_replace_remove(member: Caller) -> None:
    image = member.create(name="before")
    response = member.patch(image["id"], [
        {"op": "replace", "path": "/name", "value": "after"},
        {"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
        {"op": "add", "path": "/a~1b", "value": "slash"},
        {"op": "add", "path": "/tags", "value": ["t1"]},
        {"op": "replace", "path": "/min_disk", "value": 3},
    ])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "after" and body["hw_disk_bus"] == "scsi"
    assert body["a/b"] == "slash" and body["tags"] == ["t1"] and body["min_disk"] == 3
    response = member.patch(image["id"], [{"op": "remove", "path": "/hw_disk_bus"}])
    assert "hw_disk_bus" not in response.json()
    shown = member.http.get(f"/v2/images/{image['id']}").json()
    assert shown["name"] == "after" and "hw_disk_bus" not in shown


def test_patch_is_atomic(member: Caller) -> None:
    image = member.create(name="kept")
    response = member.patch(image["id"], [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "remove", "path": "/missing_property"},
    ])
    assert response.status_code == 409
    assert member.http.get(f"/v2/images/{image['id']}").json()["name"] == "kept"


def test_patch_errors(member: Caller) -> None:
    image = member.create()
    image_id = image["id"]
    assert member.patch(image_id, [{"op": "replace", "path": "/status", "value": "active"}]
                        ).status_code == 403
    assert member.patch(image_id, [{"op": "remove", "path": "/name"}]).status_code == 403
    assert member.patch(image_id, [{"op": "replace", "path": "/nothing", "value": "x"}]
                        ).status_code == 409
    assert member.patch(image_id, [{"op": "move", "path": "/name", "value": "x"}]
                        ).status_code == 400
    assert member.patch(image_id, [{"op": "add", "path": "name", "value": "x"}]).status_code == 400
    assert member.patch(image_id, [{"op": "add", "path": "/custom", "value": 1}]).status_code == 400
    assert member.patch(image_id, [{"op": "add", "path": "/min_ram", "value": -5}]
                        ).status_code == 400
    assert member.patch(image_id, {"op": "add"}).status_code == 400  # type: ignore[arg-type]
    response = member.http.patch(f"/v2/images/{image_id}", json=[],
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert "openstack-images-v2.1-json-patch" in response.headers["accept-patch"]


def test_patch_v20_media_type(member: Caller) -> None:
    image = member.create()
    response = member.http.patch(f"/v2/images/{image['id']}", headers=PATCH_V20,
                                 json=[{"add": "/color", "value": "red"}])
    assert response.status_code == 200 and response.json()["color"] == "red"
    response = member.http.patch(f"/v2/images/{image['id']}", headers=PATCH_V20,
                                 json=[{"add": "/color", "value": "blue"}])
    assert response.status_code == 409
    response = member.http.patch(f"/v2/images/{image['id']}", headers=PATCH_V20,
                                 json=[{"replace": "/color", "value": "blue"}])
    assert response.json()["color"] == "blue"


def test_formats_freeze_once_active(member: Caller) -> None:
    image = member.create(disk_format="qcow2")
    assert member.upload(image["id"], crafted.qcow2()).status_code == 204
    response = member.patch(image["id"], [{"op": "replace", "path": "/disk_format",
                                           "value": "raw"}])
    assert response.status_code == 403


def test_visibility_rules(member: Caller, admin: Caller) -> None:
    assert member.http.post("/v2/images", json={"visibility": "public"}).status_code == 403
    community = member.create(visibility="community")
    assert community["visibility"] == "community"
    image = member.create()
    assert member.patch(image["id"], [{"op": "replace", "path": "/visibility",
                                       "value": "public"}]).status_code == 403
    assert admin.patch(image["id"], [{"op": "replace", "path": "/visibility",
                                      "value": "public"}]).json()["visibility"] == "public"


def test_owner_may_be_set_only_by_admin(member: Caller, admin: Caller, other: Caller) -> None:
    assert member.http.post("/v2/images", json={"owner": other.project_id}).status_code == 403
    image = admin.create(owner=other.project_id)
    assert image["owner"] == other.project_id
    assert other.patch(image["id"], [{"op": "replace", "path": "/owner",
                                      "value": member.project_id}]).status_code == 403


def test_reader_cannot_write(member: Caller, reader: Caller) -> None:
    image = member.create()
    assert reader.http.get(f"/v2/images/{image['id']}").status_code == 200
    assert reader.http.post("/v2/images", json={}).status_code == 403
    assert reader.patch(image["id"], [{"op": "replace", "path": "/name", "value": "x"}]
                        ).status_code == 403
    assert reader.http.delete(f"/v2/images/{image['id']}").status_code == 403


def test_protected_image_cannot_be_deleted(member: Caller) -> None:
    image = member.create(protected=True)
    assert member.http.delete(f"/v2/images/{image['id']}").status_code == 403
    member.patch(image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert member.http.delete(f"/v2/images/{image['id']}").status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}").status_code == 404


def test_deactivate_and_reactivate(member: Caller, other: Caller, admin: Caller) -> None:
    image = admin.create(owner=member.project_id, visibility="public")
    image_id = image["id"]
    assert member.http.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 403
    assert member.upload(image_id, b"payload").status_code == 204
    assert other.http.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 403
    assert member.http.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 204
    assert member.http.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 204
    assert member.http.get(f"/v2/images/{image_id}").json()["status"] == "deactivated"
    assert other.http.get(f"/v2/images/{image_id}/file").status_code == 403
    assert admin.http.get(f"/v2/images/{image_id}/file").content == b"payload"
    assert member.http.post(f"/v2/images/{image_id}/actions/reactivate").status_code == 204
    assert other.http.get(f"/v2/images/{image_id}/file").content == b"payload"
    response = member.http.post(f"/v2/images/{image_id}/actions/deactivate", json={"x": 1})
    assert response.status_code == 400


def test_tags(member: Caller) -> None:
    image = member.create()
    image_id = image["id"]
    assert member.http.put(f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert member.http.put(f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert member.http.put(f"/v2/images/{image_id}/tags/%C3%BCber").status_code == 204
    assert sorted(member.http.get(f"/v2/images/{image_id}").json()["tags"]) == ["blue", "über"]
    assert member.http.delete(f"/v2/images/{image_id}/tags/blue").status_code == 204
    assert member.http.delete(f"/v2/images/{image_id}/tags/blue").status_code == 404
    assert member.http.put(f"/v2/images/{image_id}/tags/{'t' * 256}").status_code == 400


def test_wrong_method_is_405_with_allow(member: Caller) -> None:
    response = member.http.put("/v2/images")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_body_on_get_and_delete_is_400(member: Caller) -> None:
    image = member.create()
    response = member.http.request("GET", f"/v2/images/{image['id']}", content=b"{}")
    assert response.status_code == 400
    response = member.http.request("DELETE", f"/v2/images/{image['id']}", content=b"{}")
    assert response.status_code == 400


def test_request_id_is_adopted(member: Caller) -> None:
    response = member.http.get("/v2/images", headers={"X-Openstack-Request-ID": "req-mine"})
    assert response.headers["x-openstack-request-id"] == "req-mine"


def test_missing_identity_is_401(anonymous: httpx.Client) -> None:
    assert anonymous.get("/v2/images").status_code == 401
