"""Sharing with members over real HTTP."""

from __future__ import annotations

from tests.conftest import Caller


def test_share_accept_and_list(member: Caller, other: Caller) -> None:
    image = member.create(name="shared-one")
    image_id = image["id"]
    assert other.http.get(f"/v2/images/{image_id}").status_code == 404
    response = member.http.post(f"/v2/images/{image_id}/members",
                                json={"member": other.project_id})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending" and body["member_id"] == other.project_id
    assert body["schema"] == "/v2/schemas/member"
    assert member.http.post(f"/v2/images/{image_id}/members",
                            json={"member": other.project_id}).status_code == 409
    # pending members can see the image but it is not in their default list
    assert other.http.get(f"/v2/images/{image_id}").status_code == 200
    listed = [i["id"] for i in other.http.get("/v2/images").json()["images"]]
    assert image_id not in listed
    listed = [i["id"] for i in other.http.get("/v2/images?member_status=pending").json()["images"]]
    assert image_id in listed
    # only the member changes its status
    url = f"/v2/images/{image_id}/members/{other.project_id}"
    assert member.http.put(url, json={"status": "accepted"}).status_code == 403
    assert other.http.put(url, json={"status": "bogus"}).status_code == 400
    assert other.http.put(url, json={"status": "accepted"}).json()["status"] == "accepted"
    listed = [i["id"] for i in other.http.get("/v2/images").json()["images"]]
    assert image_id in listed
    # members may read but not modify
    assert other.patch(image_id, [{"op": "replace", "path": "/name", "value": "x"}]
                       ).status_code == 403
    members = member.http.get(f"/v2/images/{image_id}/members").json()
    assert [m["member_id"] for m in members["members"]] == [other.project_id]
    assert members["schema"] == "/v2/schemas/members"
    assert other.http.get(url).json()["status"] == "accepted"
    assert member.http.delete(url).status_code == 204
    assert other.http.get(f"/v2/images/{image_id}").status_code == 404
    assert member.http.delete(url).status_code == 404


def test_members_need_shared_visibility(member: Caller, other: Caller) -> None:
    image = member.create(visibility="private")
    response = member.http.post(f"/v2/images/{image['id']}/members",
                                json={"member": other.project_id})
    assert response.status_code == 403
    assert member.http.get(f"/v2/images/{image['id']}/members").status_code == 403


def test_member_sees_only_its_own_membership(member: Caller, other: Caller, admin: Caller) -> None:
    image = member.create()
    third = admin.project_id
    for project in (other.project_id, third):
        member.http.post(f"/v2/images/{image['id']}/members", json={"member": project})
    seen = other.http.get(f"/v2/images/{image['id']}/members").json()["members"]
    assert [m["member_id"] for m in seen] == [other.project_id]
    assert other.http.get(f"/v2/images/{image['id']}/members/{third}").status_code == 404


def test_bad_member_bodies(member: Caller) -> None:
    image = member.create()
    url = f"/v2/images/{image['id']}/members"
    assert member.http.post(url, json={}).status_code == 400
    assert member.http.post(url, json={"member": 5}).status_code == 400
    assert member.http.post(url, content=b"nope").status_code == 400
