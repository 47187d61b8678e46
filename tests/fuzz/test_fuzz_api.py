"""Fuzzing the HTTP API with Hypothesis: JSON bodies for every JSON route,
headers, query strings and paths. Whatever arrives, the answer is never a 5xx
and never a dropped connection, and the server still answers afterwards.

Derandomized (the same examples on every run) and bounded: well under a
minute per database backend.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from tests.api.test_hostile_input import JSON_ROUTES, NS
from tests.servers import GlintServer

FUZZ = settings(max_examples=100, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
HEADERS = {"Accept": "application/json", "X-Identity-Status": "Confirmed",
           "X-Roles": "admin,member,reader"}

# Text of every kind: any code point, lone surrogates and NUL included, and
# values known to have broken servers.
SPECIAL_TEXT = st.sampled_from([
    "", "\x00", "a\x00b", "\udc80", "\ud800x", "\ufffd", str(2**70), f"-{2**64}", "9" * 5000,
    "1e400", "NaN", "10000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", "in:a,\"b", "gte:", "../..",
    "%00", "\r\nX-Injected: 1", "中文", "OS::Glance::Image", "raw", "bare", "public",
    "http://127.0.0.1:1/x", "file:///etc/passwd", "glance-direct", "web-download",
])
# In URLs (which httpx keeps under 64 KiB; longer ones: tests/api/test_request_limits.py).
URL_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=40), SPECIAL_TEXT)
TEXT = st.one_of(URL_TEXT, st.sampled_from(["é" * 40_000, "x" * 70_000]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)

# Hostile in place of a valid value: more often the values known to break
# servers than anything at all.
HOSTILE = st.one_of(SPECIAL_TEXT, SPECIAL_TEXT, SPECIAL_TEXT, TEXT, st.integers(-(2**80), 2**80),
                    JSON_VALUES)

URL = "http://127.0.0.1:1/x"  # refused (port 1), never fetched
PROPERTY = {"name": "p2", "title": "P", "type": "string", "description": "d", "enum": ["a"]}
OBJECT = {"name": "o2", "description": "d", "required": ["p"],
          "properties": {"p": {"title": "P", "type": "string"}}}
NAMESPACE = {"namespace": "n", "display_name": "d", "description": "d", "visibility": "public",
             "protected": False}
# A body each route accepts, which the fuzzer then spoils: a valid body gets
# past the first checks to the code (and the database) behind them.
VALID: dict[tuple[str, str], Any] = {
    ("POST", "/v2/images"): {"name": "n", "disk_format": "raw", "container_format": "bare",
                             "tags": ["t"], "min_ram": 0, "custom": "v"},
    ("PATCH", "/v2/images/{image}"): [{"op": "add", "path": "/custom", "value": "v"},
                                      {"op": "replace", "path": "/name", "value": "n"}],
    ("POST", "/v2/images/{image}/members"): {"member": "project"},
    ("PUT", "/v2/images/{image}/members/{project}"): {"status": "accepted"},
    ("POST", "/v2/images/{image}/import"): {"method": {"name": "web-download", "uri": URL}},
    ("POST", "/v2/images/{image}/locations"): {"url": URL, "validation_data": {}},
    ("POST", "/v2/tasks"): {"type": "import", "input": {
        "import_from": URL, "import_from_format": "raw",
        "image_properties": {"name": "n", "disk_format": "raw", "container_format": "bare"}}},
    ("POST", NS): NAMESPACE,
    ("PUT", "{namespace}"): NAMESPACE,
    ("POST", "{namespace}/resource_types"): {"name": "OS::Glance::Image", "prefix": "p_"},
    ("POST", "{namespace}/objects"): OBJECT,
    ("PUT", "{namespace}/objects/o"): {**OBJECT, "name": "o"},
    ("POST", "{namespace}/properties"): PROPERTY,
    ("PUT", "{namespace}/properties/p"): {**PROPERTY, "name": "p"},
    ("POST", "{namespace}/tags"): {"tags": [{"name": "t2"}]},
    ("PUT", "{namespace}/tags/t"): {"name": "t"},
}
PATCH_V20 = [{"add": "/custom", "value": "v"}, {"replace": "/name", "value": "n"}]


Path = tuple[Any, ...]


def _places(document: Any, path: Path = ()) -> list[tuple[str, Path]]:
    """Where `document` can be spoiled: every value ("value"), and every object
    ("member": one more member)."""
    places = [("value", path)]
    if isinstance(document, dict):
        places.append(("member", path))
        for key, value in document.items():
            places.extend(_places(value, (*path, key)))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            places.extend(_places(item, (*path, index)))
    return places


def _spoil(document: Any, place: tuple[str, Path], name: str, value: Any) -> Any:
    kind, path = place
    if not path:
        return {**document, name: value} if kind == "member" else value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _spoil(document[path[0]], (kind, path[1:]), name, value)
    return copy


def _at(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def _hostile_like(value: Any) -> st.SearchStrategy[Any]:
    """Hostile values, most often of the type the valid value has (so that the
    rest of the body stays valid and the value goes deeper)."""
    if isinstance(value, str):
        return st.one_of(SPECIAL_TEXT, TEXT, HOSTILE)
    if isinstance(value, int) and not isinstance(value, bool):
        return st.one_of(st.integers(-(2**80), 2**80), HOSTILE)
    return HOSTILE


def spoiled(document: Any) -> st.SearchStrategy[Any]:
    """`document` with one or two of its values replaced by hostile ones, or
    hostile members (string-valued, most often) added to its objects."""
    def spoil(place: tuple[str, Path]) -> st.SearchStrategy[Any]:
        kind, path = place
        value = _hostile_like("" if kind == "member" else _at(document, path))
        return st.tuples(st.just(place), TEXT, value)

    # Leaves first: Hypothesis draws the first choices most often.
    places = sorted(_places(document), key=lambda place: (
        place[0] == "member", isinstance(_at(document, place[1]), dict | list)))
    spoils = st.sampled_from(places).flatmap(spoil)
    return st.lists(spoils, min_size=1, max_size=2).map(lambda chosen: _apply(document, chosen))


def _apply(document: Any, spoils: list[tuple[tuple[str, Path], str, Any]]) -> Any:
    for place, name, value in spoils:
        try:
            document = _spoil(document, place, name, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier spoil replaced what this one reaches into
    return document


def json_bodies(method: str, template: str, media: str) -> st.SearchStrategy[bytes]:
    """Bodies for a route: its valid body spoiled (most often), any JSON, any bytes."""
    valid = PATCH_V20 if media.endswith("v2.0-json-patch") else VALID[(method, template)]
    documents = st.one_of(spoiled(valid), spoiled(valid), spoiled(valid), st.just(valid),
                          JSON_VALUES)
    return st.one_of(documents.map(lambda d: json.dumps(d).encode()), st.binary(max_size=64))


@dataclass(frozen=True)
class Targets:
    """What the fuzzed requests address, and the client (kept alive) they go by."""

    http: httpx.Client
    image: str
    project: str
    namespace: str


@pytest.fixture(scope="module")
def targets(server: GlintServer) -> Iterator[Targets]:
    project = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=60, headers={
            **HEADERS, "X-Project-Id": project, "X-User-Id": "fuzzer"}) as http:
        image = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
        namespace = f"{NS}/Fuzz::{uuid.uuid4().hex[:8]}"
        assert http.post(NS, json={"namespace": namespace.rsplit("/", 1)[1]}).status_code == 201
        http.post(f"{namespace}/objects", json={"name": "o"})
        http.post(f"{namespace}/properties", json={"name": "p", "title": "P", "type": "string"})
        http.post(f"{namespace}/tags/t")
        yield Targets(http, image.json()["id"], project, namespace)
        assert http.get("/versions").status_code == 200, "the server stopped answering"


def answer(targets: Targets, method: str, url: str, **options: Any) -> httpx.Response:
    """The answer to one fuzzed request, which must be neither 5xx nor a dropped connection."""
    try:
        response = targets.http.request(method, url, **options)
    except httpx.LocalProtocolError:
        reject()  # the client would not send it
    except httpx.TransportError as exc:
        pytest.fail(f"{method} {url[:200]}: connection dropped ({exc!r})")
    assert response.status_code < 500, f"{method} {url[:200]}: {response.text[:500]}"
    return response


@pytest.mark.parametrize("method, template, media", JSON_ROUTES,
                         ids=[f"{m} {t}" for m, t, _ in JSON_ROUTES])
def test_json_bodies(targets: Targets, method: str, template: str,
                     media: dict[str, str]) -> None:
    path = template.format(image=targets.image, project=targets.project,
                           namespace=targets.namespace)

    @FUZZ
    @given(body=json_bodies(method, template, media["Content-Type"]))
    def run(body: bytes) -> None:
        answer(targets, method, path, content=body, headers=media)

    run()


HEADER_NAMES = st.sampled_from([
    "X-Project-Id", "X-User-Id", "X-Tenant-Id", "X-Roles", "X-Identity-Status", "Accept",
    "X-Openstack-Request-ID", "Range", "Content-Range", "Content-Type", "X-Image-Meta-Store",
    "x-openstack-image-size", "X-Openstack-Append", "OpenStack-System-Scope", "X-Domain-Id",
    "X-Service-Roles", "X-Auth-Token", "Expect", "Upgrade",
])
# Header values are Latin-1 without CR, LF, NUL or surrounding blanks (what a
# client can send at all).
HEADER_TEXT = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
            max_size=40).filter(lambda text: text == text.strip(" \t")),
    st.sampled_from(["bytes=0-" + str(2**70), "bytes=-" + "9" * 5000, "bytes=5-1", "bytes=,",
                     "x" * 256, "x" * 20_000, str(2**64), "-1", "application/json;q=0",
                     "application/openstack-images-v2.1-json-patch", "100-continue",
                     "websocket"]),
)
# Any other name too, but not the ones that frame the message (a wrong
# Content-Length only makes the server wait for bytes that never come).
FRAMING = {"content-length", "transfer-encoding", "host", "connection"}
OTHER_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z").filter(
    lambda name: name.lower() not in FRAMING)
HEADER_SETS = st.dictionaries(st.one_of(HEADER_NAMES, OTHER_NAMES), HEADER_TEXT, max_size=5)


@FUZZ
@given(headers=HEADER_SETS, where=st.sampled_from([
    ("GET", "/v2/images"), ("POST", "/v2/images"), ("GET", "/v2/images/{image}"),
    ("GET", "/v2/images/{image}/file"), ("PUT", "/v2/images/{image}/file"),
    ("PATCH", "/v2/images/{image}"), ("GET", NS), ("GET", "/v2/tasks"),
]))
def test_headers(targets: Targets, headers: dict[str, str],
                 where: tuple[str, str]) -> None:
    method, template = where
    content = b"{}" if method in ("POST", "PATCH") else (b"data" if method == "PUT" else None)
    raw = {name.encode("latin-1"): value.encode("latin-1") for name, value in headers.items()}
    answer(targets, method, template.format(image=targets.image), content=content, headers=raw)


def _encoded(text: str) -> str:
    """Percent-encoded as UTF-8, a lone surrogate as the bytes it would take."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


QUERY_NAMES = st.sampled_from([
    "limit", "marker", "sort_key", "sort_dir", "sort", "member_status", "visibility", "tag",
    "size_min", "size_max", "protected", "os_hidden", "name", "id", "status", "disk_format",
    "container_format", "owner", "checksum", "os_hash_value", "min_ram", "min_disk",
    "virtual_size", "created_at", "updated_at", "changes-since", "type", "resource_types",
    "resource_type", "prefer", "custom_property",
])


@FUZZ
@given(params=st.lists(st.tuples(st.one_of(QUERY_NAMES, URL_TEXT), URL_TEXT), max_size=8),
       path=st.sampled_from(["/v2/images", "/v2/tasks", NS, "{namespace}/tags",
                             "{namespace}/objects", "{namespace}/properties",
                             "/v2/images/{image}/file", "/v2/images/{image}/members",
                             "/v2/images/{image}", "{namespace}"]))
def test_query_strings(targets: Targets, params: list[tuple[str, str]],
                       path: str) -> None:
    query = "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in params)
    url = path.format(image=targets.image, namespace=targets.namespace)
    answer(targets, "GET", f"{url}?{query}")


PATH_TEMPLATES = st.sampled_from([
    "/{s}", "/v2/{s}", "/v2/images/{s}", "/v2/images/{image}/tags/{s}",
    "/v2/images/{image}/members/{s}", "/v2/images/{s}/file", "/v2/images/{s}/actions/{s}",
    "/v2/tasks/{s}", "/v2/schemas/{s}", "/v2/schemas/metadefs/{s}", "/v2/stores/{s}/{image}",
    f"{NS}/{{s}}", f"{NS}/{{s}}/tags/{{s}}", "{namespace}/objects/{s}",
    "{namespace}/resource_types/{s}", "/v2.{s}/images", "/v{s}/images",
])


@FUZZ
@given(template=PATH_TEMPLATES, segment=URL_TEXT,
       method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]))
def test_paths(targets: Targets, template: str, segment: str,
               method: str) -> None:
    url = template.format(s=_encoded(segment), image=targets.image, namespace=targets.namespace)
    answer(targets, method, url)
