"""Hostile input gets a Glance-shaped 4xx with a message, the same on every
database, never a 500 or a dropped connection (README "Limits")."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import Caller

JSON = {"Content-Type": "application/json"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
NS = "/v2/metadefs/namespaces"
BEYOND_64_BITS = str(2**70)


def refused(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert message in response.json()["message"], response.text


def _namespace(admin: Caller) -> str:
    name = f"Hostile::{uuid.uuid4().hex[:12]}"
    assert admin.http.post(NS, json={"namespace": name}).status_code == 201
    return f"{NS}/{name}"


# Every route that reads a JSON body: (method, path template, media type).
JSON_ROUTES = [
    ("POST", "/v2/images", JSON),
    ("PATCH", "/v2/images/{image}", PATCH),
    ("PATCH", "/v2/images/{image}",
     {"Content-Type": "application/openstack-images-v2.0-json-patch"}),
    ("POST", "/v2/images/{image}/members", JSON),
    ("PUT", "/v2/images/{image}/members/{project}", JSON),
    ("POST", "/v2/images/{image}/import", JSON),
    ("POST", "/v2/images/{image}/locations", JSON),
    ("POST", "/v2/tasks", JSON),
    ("POST", NS, JSON),
    ("PUT", "{namespace}", JSON),
    ("POST", "{namespace}/resource_types", JSON),
    ("POST", "{namespace}/objects", JSON),
    ("PUT", "{namespace}/objects/o", JSON),
    ("POST", "{namespace}/properties", JSON),
    ("PUT", "{namespace}/properties/p", JSON),
    ("POST", "{namespace}/tags", JSON),
    ("PUT", "{namespace}/tags/t", JSON),
]


def _send_to_every_route(admin: Caller, body: bytes) -> list[tuple[str, httpx.Response]]:
    image = admin.create()
    namespace = _namespace(admin)
    admin.http.post(f"{namespace}/objects", json={"name": "o"})
    admin.http.post(f"{namespace}/properties", json={"name": "p", "title": "P", "type": "string"})
    admin.http.post(f"{namespace}/tags/t")
    answers = []
    for method, template, headers in JSON_ROUTES:
        path = template.format(image=image["id"], project=admin.project_id, namespace=namespace)
        answers.append((f"{method} {template}",
                        admin.http.request(method, path, content=body, headers=headers)))
    return answers


@pytest.mark.parametrize("body, status, message", [
    (b"[" * 1000 + b"]" * 1000, 400, "nested more than 32 levels deep"),
    (b"[" * 20_000 + b"]" * 20_000, 400, "nested more than 32 levels deep"),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 413, "larger than max_request_body_size (114688"),
    (b'{"name": "\\udc80"}', 400, "unpaired UTF-16 surrogate (\\udc80)"),
    (b'{"name": "a\\u0000b"}', 400, "NUL character"),
    (b'{"a\\u0000": "b"}', 400, "NUL character"),
    (b'{"n": NaN}', 400, "Malformed JSON"),
], ids=["1000-deep-arrays", "20000-deep-arrays", "50000-deep-objects", "lone-surrogate",
        "nul-value", "nul-key", "nan"])
def test_every_json_body_is_read_by_one_checked_reader(
        admin: Caller, body: bytes, status: int, message: str) -> None:
    for route, response in _send_to_every_route(admin, body):
        assert response.status_code == status, (route, response.text)
        assert message in response.json()["message"], (route, response.text)


@pytest.mark.parametrize("path_of", [
    lambda image: "/v2/images",
    lambda image: f"/v2/images/{image}/members",
], ids=["create", "members"])
def test_a_body_over_the_cap_is_refused_from_its_content_length(
        member: Caller, path_of: Callable[[str], str]) -> None:
    image = member.create()
    body = json.dumps({"name": "x" * 114_688}).encode()
    refused(member.http.post(path_of(str(image["id"])), content=body, headers=JSON), 413,
            "The request body is larger than max_request_body_size (114688 bytes).")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap(member: Caller) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(200):
            yield b"x" * 1024
        yield b'"}'

    refused(member.http.post("/v2/images", content=chunks(), headers=JSON), 413,
            "larger than max_request_body_size")
    assert member.http.get("/versions").status_code == 200


def test_image_data_is_not_capped(member: Caller) -> None:
    image = member.create()
    assert member.upload(image["id"], b"d" * 300_000).status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}").json()["size"] == 300_000


def test_an_action_body_is_refused_without_being_read(member: Caller) -> None:
    image = member.create()
    refused(member.http.put(f"/v2/images/{image['id']}/tags/t", content=b"x" * 1_000_000), 400,
            "does not allow a request body")


@pytest.mark.parametrize("value, status", [
    ("x" * 65_535, 201), ("x" * 65_536, 400), ("é" * 32_768, 400), ("é" * 32_767, 201),
], ids=["65535-bytes", "65536-bytes", "65536-bytes-of-e-acute", "65534-bytes-of-e-acute"])
def test_property_values_hold_65535_bytes_on_every_database(
        member: Caller, value: str, status: int) -> None:
    response = member.http.post("/v2/images", json={"big": value, "disk_format": "raw",
                                                    "container_format": "bare"})
    assert response.status_code == status, response.text[:300]
    if status == 201:
        shown = member.http.get(f"/v2/images/{response.json()['id']}").json()
        assert shown["big"] == value
    else:
        assert "The value of property big is longer than 65535 bytes." in response.json()["message"]
    image = member.create()
    response = member.patch(image["id"], [{"op": "add", "path": "/big", "value": value}])
    assert response.status_code == (200 if status == 201 else 400), response.text[:300]


def test_nul_in_stored_strings(member: Caller) -> None:
    image = member.create()
    for response in (
        member.http.post("/v2/images", json={"name": "a\x00b"}),
        member.http.post("/v2/images", json={"prop": "a\x00b"}),
        member.patch(image["id"], [{"op": "add", "path": "/p", "value": "\x00"}]),
        member.patch(image["id"], [{"op": "add", "path": "/p\x00", "value": "v"}]),
        member.http.post(f"/v2/images/{image['id']}/members", json={"member": "p\x00"}),
        member.http.post(NS, json={"namespace": "ns\x00"}),
    ):
        refused(response, 400, "contains a NUL character")


@pytest.mark.parametrize("path", [
    "/v2/images?name=a%00b", "/v2/images?marker=%00", "/v2/images?tag=%00",
    "/v2/images?a%00=b", "/v2/images/a%00b", "/v2/images/{image}/tags/a%00b",
    "/v2/images/{image}/members/a%00b", "/v2/tasks?marker=%00", f"{NS}/a%00b",
    f"{NS}?marker=%00",
])
def test_nul_in_the_url(member: Caller, path: str) -> None:
    image = member.create()
    response = member.http.get(path.format(image=image["id"]))
    assert response.status_code == 400, response.text
    assert "contains a NUL character" in response.json()["message"]


def test_invalid_utf8_in_the_url_reads_as_replacement_characters(member: Caller) -> None:
    """Percent-encoded bytes that are not UTF-8 (such as a surrogate's encoding)
    decode to U+FFFD, as Starlette decodes them, which every database stores."""
    image = member.create()
    response = member.http.get("/v2/images?name=%ED%B2%80")
    assert response.status_code == 200 and response.json()["images"] == []
    assert member.http.put(f"/v2/images/{image['id']}/tags/%ED%B2%80").status_code == 204
    assert member.http.get(f"/v2/images/{image['id']}").json()["tags"] == ["\ufffd" * 3]
    assert member.http.get("/v2/images/%ED%B2%80").status_code == 404


@pytest.mark.parametrize("query, name, bounds", [
    (f"size_min={BEYOND_64_BITS}", "size_min", "-9223372036854775808 and 9223372036854775807"),
    (f"size_max=-{BEYOND_64_BITS}", "size_max", "-9223372036854775808 and 9223372036854775807"),
    (f"virtual_size={BEYOND_64_BITS}", "virtual_size",
     "-9223372036854775808 and 9223372036854775807"),
    (f"min_ram={2**31}", "min_ram", "-2147483648 and 2147483647"),
    (f"min_disk={BEYOND_64_BITS}", "min_disk", "-2147483648 and 2147483647"),
])
def test_integer_filters_within_their_columns(
        member: Caller, query: str, name: str, bounds: str) -> None:
    refused(member.http.get(f"/v2/images?{query}"), 400, f"'{name}' must be between {bounds}")


def test_integer_filters_at_their_bounds(member: Caller) -> None:
    for query in (f"size_min={2**63 - 1}", f"size_max={-2**63}", f"min_ram={2**31 - 1}",
                  f"min_disk={-2**31}", f"virtual_size={2**63 - 1}"):
        assert member.http.get(f"/v2/images?{query}").status_code == 200, query


def test_ranges_beyond_64_bits(member: Caller) -> None:
    image = member.create()
    assert member.upload(image["id"], b"0123456789").status_code == 204
    url = f"/v2/images/{image['id']}/file"
    for header in (f"bytes=0-{BEYOND_64_BITS}", f"bytes={BEYOND_64_BITS}-",
                   f"bytes=-{BEYOND_64_BITS}", "bytes=0-" + "9" * 5000):
        response = member.http.get(url, headers={"Range": header})
        refused(response, 416, "byte offsets end at 9223372036854775807")
        assert response.headers["content-range"] == "bytes */10"
    response = member.http.get(url, headers={"Range": f"bytes=2-{2**63 - 1}"})
    assert response.status_code == 206 and response.content == b"23456789"


@pytest.mark.parametrize("value, message", [
    ("lt:10000-01-01T00:00:00Z", 'Bad "updated_at" query filter format'),
    ("lt:99999-01-01T00:00:00", 'Bad "updated_at" query filter format'),
    ("lt:9999-12-31T23:59:59-05:00", "is outside years 1 to 9999 in UTC"),
    ("gt:0001-01-01T00:00:00+01:00", "is outside years 1 to 9999 in UTC"),
])
def test_dates_past_year_9999(member: Caller, value: str, message: str) -> None:
    refused(member.http.get("/v2/images", params={"updated_at": value}), 400, message)


def test_dates_at_the_ends_of_the_range(member: Caller) -> None:
    image = member.create()
    for value in ("lt:9999-12-31T23:59:59Z", "gt:0001-01-01T00:00:00Z"):
        response = member.http.get("/v2/images", params={"updated_at": value})
        assert response.status_code == 200, response.text
        assert image["id"] in [i["id"] for i in response.json()["images"]]


def test_repeated_tag_filters_are_capped(member: Caller) -> None:
    tags = [f"t{i}" for i in range(50)]
    image = member.create(tags=tags[:3])
    response = member.http.get("/v2/images", params=[("tag", t) for t in tags[:3]])
    assert [i["id"] for i in response.json()["images"]] == [image["id"]]
    started = time.monotonic()
    assert member.http.get("/v2/images", params=[("tag", t) for t in tags]).status_code == 200
    refused(member.http.get("/v2/images", params=[("tag", t) for t in tags + ["x"]]), 400,
            "Too many tag filters: at most 50 are allowed.")
    assert time.monotonic() - started < 5


def test_1500_tags_are_answered_at_once(member: Caller) -> None:
    started = time.monotonic()
    response = member.http.get("/v2/images", params=[("tag", f"t{i}") for i in range(1500)])
    refused(response, 414, "The URL is longer than 8192 bytes.")
    assert time.monotonic() - started < 2


def test_query_parameters_are_capped(member: Caller) -> None:
    params = [(f"p{i}", "v") for i in range(100)]
    assert member.http.get("/v2/images", params=params).status_code == 200
    refused(member.http.get("/v2/images", params=params + [("q", "v")]), 400,
            "Too many query parameters: at most 100 are allowed.")
    refused(member.http.get("/v2/images?" + "&".join(f"p{i}=v" for i in range(2000))), 414,
            "The URL is longer than 8192 bytes.")


def test_identity_longer_than_its_column(member: Caller) -> None:
    for header in ("X-Project-Id", "X-User-Id"):
        response = member.http.post("/v2/images", json={}, headers={header: "p" * 256})
        refused(response, 400, f"{header} is longer than 255 characters.")
    with httpx.Client(base_url=member.base_url, headers={
            "Accept": "application/json", "X-Identity-Status": "Confirmed",
            "X-Tenant-Id": "p" * 256, "X-Roles": "member"}) as tenant:
        refused(tenant.post("/v2/images", json={}), 400, "X-Tenant-Id is longer than 255")
    response = member.http.get("/v2/images", headers={"X-Project-Id": "p" * 300})
    refused(response, 400, "X-Project-Id is longer than 255 characters.")
    assert member.http.get("/v2/images", headers={"X-Project-Id": "p" * 255}).status_code == 200


@pytest.mark.parametrize("name", ["a\r\nX-Injected: 1", "中文 ?#", "ns%00"])
def test_metadef_namespace_names_are_percent_encoded_in_location(
        admin: Caller, name: str) -> None:
    name = f"{name}-{uuid.uuid4().hex[:8]}"
    response = admin.http.post(NS, json={"namespace": name})
    assert response.status_code == 201, response.text
    assert "x-injected" not in response.headers
    location = response.headers["location"]
    assert location.isascii() and " " not in location and "\n" not in location
    assert admin.http.get(location).json()["namespace"] == name


def test_the_server_still_answers(member: Caller) -> None:
    """Run last in this module: every refusal above left the server serving."""
    assert member.http.get("/v2/images").status_code == 200
