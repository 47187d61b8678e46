"""POST /v2/images/{id}/import on every database: the image is checked
(existence, visibility, policy, state) before web-download's URI, and a
single-store site ignores `stores`, `all_stores` and X-Image-Meta-Store as
Glance does. (That no DNS look-up happens first is proven in-process, with a
resolver that records its questions: tests/services/test_import_order.py.)"""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Caller
from tests.helpers import OCTET, wait_for_status

# `.invalid` never resolves (RFC 2606): the old order answered 400
# "Host ... cannot be resolved" here to anyone, for any image id.
UNRESOLVABLE = "http://glint-probe.invalid/disk.raw"


def _web_download(caller: Caller, image_id: object, uri: str = UNRESOLVABLE) -> httpx.Response:
    return caller.http.post(f"/v2/images/{image_id}/import",
                            json={"method": {"name": "web-download", "uri": uri}})


def test_missing_and_invisible_images_are_404(member: Caller, other: Caller) -> None:
    for image_id in (uuid.uuid4(), "not-a-uuid"):
        response = _web_download(member, image_id)
        assert response.status_code == 404, response.text
    private = other.create()
    response = _web_download(member, private["id"])
    assert response.status_code == 404, response.text
    assert "cannot be resolved" not in response.text


def test_another_projects_visible_image_is_403(member: Caller, other: Caller) -> None:
    shared = other.create(visibility="community")
    response = _web_download(member, shared["id"])
    assert response.status_code == 403, response.text


def test_an_image_that_is_not_queued_is_409(member: Caller) -> None:
    active = member.create()
    assert member.upload(active["id"], b"data").status_code == 204
    response = _web_download(member, active["id"])
    assert response.status_code == 409, response.text
    staged = member.create()
    assert member.http.put(f"/v2/images/{staged['id']}/stage", content=b"x",
                           headers=OCTET).status_code == 204
    response = _web_download(member, staged["id"])
    assert response.status_code == 409 and "queued" in response.text, response.text


def test_the_uri_is_still_checked_last(member: Caller) -> None:
    image = member.create()
    response = _web_download(member, image["id"], "http://glint-probe.invalid:1/disk.raw")
    assert response.status_code == 400 and "Port 1 is not allowed" in response.text
    assert member.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_a_single_store_site_ignores_the_stores_asked_for(member: Caller) -> None:
    for extra, headers in (({"all_stores": True}, {}),
                           ({"stores": ["nowhere", "else"]}, {}),
                           ({"stores": ["fast"], "all_stores": True}, {}),
                           ({}, {"X-Image-Meta-Store": "elsewhere"})):
        image = member.create()
        assert member.http.put(f"/v2/images/{image['id']}/stage", content=b"staged data",
                               headers=OCTET).status_code == 204
        response = member.http.post(f"/v2/images/{image['id']}/import", headers=headers,
                                    json={"method": {"name": "glance-direct"}, **extra})
        assert response.status_code == 202, (extra, headers, response.text)
        shown = wait_for_status(member, image["id"], "active", "queued")
        assert shown["status"] == "active", (extra, shown)
        assert member.http.get(f"/v2/images/{image['id']}/file").content == b"staged data"
