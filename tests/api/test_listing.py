"""List filters, sorting and pagination over real HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

from tests.conftest import Caller


def _ids(caller: Caller, query: str) -> list[str]:
    response = caller.http.get(f"/v2/images?{query}")
    assert response.status_code == 200, response.text
    return [image["id"] for image in response.json()["images"]]


def _make(caller: Caller, count: int, **body: object) -> list[dict[str, object]]:
    images = []
    for index in range(count):
        images.append(caller.create(name=f"img-{index:02d}", **body))
    return images


def test_default_sort_is_newest_first(member: Caller) -> None:
    images = _make(member, 4)
    assert _ids(member, f"owner={member.project_id}") == [i["id"] for i in reversed(images)]


def test_pagination_with_next_and_first_links(member: Caller) -> None:
    images = _make(member, 5)
    expected = [i["id"] for i in reversed(images)]
    response = member.http.get(f"/v2/images?owner={member.project_id}&limit=2").json()
    assert response["first"] == f"/v2/images?owner={member.project_id}&limit=2"
    assert response["schema"] == "/v2/schemas/images"
    seen = [i["id"] for i in response["images"]]
    while "next" in response:
        query = parse_qs(urlparse(response["next"]).query)
        assert query["owner"] == [member.project_id] and query["limit"] == ["2"]
        response = member.http.get(response["next"]).json()
        seen += [i["id"] for i in response["images"]]
    assert seen == expected
    assert _ids(member, f"owner={member.project_id}&limit=0") == []


def test_bad_paging_parameters(member: Caller) -> None:
    for query in ["limit=-1", "limit=abc", "marker=00000000-0000-0000-0000-000000000000",
                  "sort_dir=up", "sort_key=color", "sort=name:sideways",
                  "sort=name&sort_key=name", "visibility=everyone", "member_status=maybe",
                  "size_min=big", "protected=maybe", "os_hidden=1", "created_at=gt:yesterday",
                  "created_at=around:2020-01-01T00:00:00Z", "name=a:b", "changes-since=x",
                  "sort_key=name&sort_key=id&sort_dir=asc&sort_dir=desc&sort_dir=asc"]:
        assert member.http.get(f"/v2/images?{query}").status_code == 400, query


def test_sort_keys_and_directions(member: Caller) -> None:
    made = [member.create(name=name) for name in ("b", "a", "c")]
    by_name = sorted(made, key=lambda i: str(i["name"]))
    own = f"owner={member.project_id}"
    assert _ids(member, f"{own}&sort_key=name&sort_dir=asc") == [i["id"] for i in by_name]
    assert _ids(member, f"{own}&sort=name:desc") == [i["id"] for i in reversed(by_name)]
    assert _ids(member, f"{own}&sort=name") == [i["id"] for i in reversed(by_name)]
    paged = member.http.get(f"/v2/images?{own}&sort=name:asc&limit=1").json()
    second = member.http.get(paged["next"]).json()["images"]
    assert [paged["images"][0]["id"], second[0]["id"]] == [i["id"] for i in by_name[:2]]


def test_filters(member: Caller) -> None:
    own = f"owner={member.project_id}"
    a = member.create(name="alpha", disk_format="qcow2", tags=["x", "y"], color="red")
    b = member.create(name="beta", disk_format="raw", tags=["x"], protected=True)
    c = member.create(name="gamma, delta", os_hidden=True)
    member.upload(b["id"], b"12345")
    assert _ids(member, f"{own}&name=alpha") == [a["id"]]
    assert set(_ids(member, f"{own}&name=in:alpha,beta")) == {a["id"], b["id"]}
    assert _ids(member, f'{own}&name=in:"gamma, delta"&os_hidden=true') == [c["id"]]
    assert _ids(member, f"{own}&disk_format=qcow2") == [a["id"]]
    assert set(_ids(member, f"{own}&tag=x")) == {a["id"], b["id"]}
    assert _ids(member, f"{own}&tag=x&tag=y") == [a["id"]]
    assert _ids(member, f"{own}&color=red") == [a["id"]]
    assert _ids(member, f"{own}&protected=true") == [b["id"]]
    assert _ids(member, f"{own}&status=active") == [b["id"]]
    assert _ids(member, f"{own}&size_min=5&size_max=5") == [b["id"]]
    assert _ids(member, f"{own}&size_min=6") == []
    assert _ids(member, f"{own}&size=5") == [b["id"]]
    assert _ids(member, f"{own}&size=4") == []
    assert c["id"] not in _ids(member, own)
    shown = member.http.get(f"/v2/images/{b['id']}").json()
    assert _ids(member, f"{own}&checksum={shown['checksum']}") == [b["id"]]
    assert _ids(member, f"{own}&os_hash_value={shown['os_hash_value']}") == [b["id"]]
    assert _ids(member, f"id={a['id']}") == [a["id"]]


def test_time_filters(member: Caller) -> None:
    own = f"owner={member.project_id}"
    first = member.create(name="early")
    time.sleep(1.1)
    second = member.create(name="late")
    moment = second["created_at"]
    assert _ids(member, f"{own}&created_at=gte:{moment}") == [second["id"]]
    assert _ids(member, f"{own}&created_at=lt:{moment}") == [first["id"]]
    assert set(_ids(member, f"{own}&updated_at=neq:2000-01-01T00:00:00Z")) == {
        first["id"], second["id"]}


def test_visibility_in_lists(member: Caller, other: Caller, admin: Caller) -> None:
    private = member.create(visibility="private")
    community = member.create(visibility="community")
    public = admin.create(visibility="public", owner=member.project_id)
    own = f"owner={member.project_id}"
    assert set(_ids(member, own)) == {private["id"], community["id"], public["id"]}
    assert set(_ids(other, own)) == {public["id"]}
    assert set(_ids(other, f"{own}&visibility=community")) == {community["id"]}
    assert set(_ids(other, f"{own}&visibility=all")) == {community["id"], public["id"]}
    assert set(_ids(other, f"{own}&visibility=private")) == set()
    assert set(_ids(member, f"{own}&visibility=private")) == {private["id"]}
    assert set(_ids(admin, f"{own}&visibility=private")) == {private["id"]}
    assert other.http.get(f"/v2/images/{community['id']}").status_code == 200


def test_paging_by_name_with_missing_names(member: Caller) -> None:
    """Images without a name sort at one end (where the database puts NULL, as
    in Glance) and paging one by one visits every image once, both ways."""
    made = [member.create(name=name) for name in (None, "b", "", "a", None, "b")]
    names = {image["id"]: image["name"] for image in made}
    own = f"owner={member.project_id}"
    for direction in ("asc", "desc"):
        whole = _ids(member, f"{own}&sort_key=name&sort_dir={direction}")
        assert sorted(whole) == sorted(names)
        present = [names[i] for i in whole if names[i] is not None]
        assert present == sorted(present, reverse=direction == "desc")
        missing = [position for position, i in enumerate(whole) if names[i] is None]
        assert missing in ([0, 1], [4, 5])
        paged: list[str] = []
        url: str | None = f"/v2/images?{own}&sort_key=name&sort_dir={direction}&limit=1"
        while url:
            body = member.http.get(url).json()
            paged += [image["id"] for image in body["images"]]
            url = body.get("next")
        assert paged == whole, direction


def test_paging_through_what_a_member_sees(member: Caller, other: Caller, admin: Caller) -> None:
    """Own, public and shared images come from separate index walks: pages of one
    still follow each other in one order, whatever the kind of each image."""
    tag = f"paging-{member.project_id}"
    mine = [member.create(name=f"own-{n}", tags=[tag]) for n in range(3)]
    public = [admin.create(name=f"public-{n}", visibility="public", tags=[tag]) for n in range(3)]
    shared = [other.create(name=f"shared-{n}", tags=[tag]) for n in range(3)]
    private = other.create(name="private", tags=[tag])
    for image in shared:
        assert other.http.post(f"/v2/images/{image['id']}/members",
                               json={"member": member.project_id}).status_code == 200
        assert member.http.put(f"/v2/images/{image['id']}/members/{member.project_id}",
                               json={"status": "accepted"}).status_code == 200
    expected = {str(i["id"]) for i in mine + public + shared}
    for query in (f"tag={tag}&sort_key=name&sort_dir=asc", f"tag={tag}&sort_dir=desc"):
        whole = _ids(member, query)
        assert set(whole) == expected and private["id"] not in whole
        paged: list[str] = []
        url: str | None = f"/v2/images?{query}&limit=2"
        while url:
            body = member.http.get(url).json()
            paged += [image["id"] for image in body["images"]]
            url = body.get("next")
        assert paged == whole, query
