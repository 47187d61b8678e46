"""Image locations over real HTTP: JSON-patch changes with show_multiple_locations, and
POST /v2/images/{id}/locations by owners, against `glint serve` and nginx."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Caller
from tests.helpers import OCTET
from tests.servers import GlintServer, glint_server
from tests.stores.backends import seaweedfs
from tests.web import WebServer, nginx

METADATA_SERVICE = "http://169.254.169.254/latest/meta-data"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    redirects = {"/to-metadata": METADATA_SERVICE, "/to-allowed": "/allowed-target"}
    with nginx(tmp_path_factory.mktemp("nginx"), redirects) as server:
        yield server


@pytest.fixture(scope="module")
def glint(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[GlintServer]:
    """Locations shown and editable; users may name nginx (127.0.0.1, its port) only."""
    folder = tmp_path_factory.mktemp("locations")
    metadata = folder / "store-metadata.json"
    metadata.write_text(json.dumps({"id": "share-1", "mountpoint": str(folder / "images")}))
    extra: dict[str, dict[str, object]] = {
        "DEFAULT": {"show_multiple_locations": "true", "show_image_direct_url": "true"},
        "glance_store": {"filesystem_store_metadata_file": metadata},
        "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port},
    }
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
        yield server


@pytest.fixture(scope="module")
def hidden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    """Glance's defaults: locations neither shown nor editable."""
    folder = tmp_path_factory.mktemp("hidden")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}") as server:
        yield server


@pytest.fixture
def owner(glint: GlintServer) -> Caller:
    return Caller(glint.url, uuid.uuid4().hex, ("member", "reader"))


@pytest.fixture
def boss(glint: GlintServer) -> Caller:
    return Caller(glint.url, uuid.uuid4().hex, ("admin", "member", "reader"))


@pytest.fixture
def stranger(glint: GlintServer) -> Caller:
    return Caller(glint.url, uuid.uuid4().hex, ("member", "reader"))


def _published(web: WebServer, data: bytes, name: str | None = None) -> str:
    name = name or uuid.uuid4().hex
    (web.root / name).write_bytes(data)
    return f"{web.url}/{name}"


def _hashes(data: bytes) -> dict[str, str]:
    return {"checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest()}


def _value(url: str, metadata: dict[str, Any] | None = None,
           validation: dict[str, str] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"url": url, "metadata": metadata or {}}
    if validation is not None:
        value["validation_data"] = validation
    return value


def _add(caller: Caller, image_id: object, url: str, position: str = "-",
         **more: Any) -> httpx.Response:
    return caller.patch(image_id, [{"op": "add", "path": f"/locations/{position}",
                                    "value": _value(url, **more)}])


def _remove(caller: Caller, image_id: object, position: str) -> httpx.Response:
    return caller.patch(image_id, [{"op": "remove", "path": f"/locations/{position}"}])


def _uploaded(caller: Caller, data: bytes, **body: object) -> dict[str, Any]:
    image = caller.create(**body)
    assert caller.upload(image["id"], data).status_code == 204
    shown: dict[str, Any] = caller.http.get(f"/v2/images/{image['id']}").json()
    return shown


def _data_file(glint: GlintServer, image_id: object) -> Path:
    return glint.folder / "images" / str(image_id)


def test_adding_a_location_activates_a_queued_image(owner: Caller, web: WebServer) -> None:
    data = os.urandom(50_000)
    url = _published(web, data)
    image = owner.create()
    response = _add(owner, image["id"], url, validation=_hashes(data))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_algo"] == "sha512"
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert body["locations"] == [{"url": url, "metadata": {}}]
    assert body["direct_url"] == url
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data


def test_adding_without_validation_data_takes_the_size_only(owner: Caller,
                                                            web: WebServer) -> None:
    url = _published(web, b"twelve bytes")
    image = owner.create()
    body = _add(owner, image["id"], url, metadata={"note": "mirror"}).json()
    assert body["status"] == "active" and body["size"] == 12 and body["checksum"] is None
    assert body["locations"] == [{"url": url, "metadata": {"note": "mirror"}}]


def test_new_locations_are_checked(owner: Caller, web: WebServer, glint: GlintServer) -> None:
    data = b"x" * 1000
    url = _published(web, data)
    image = owner.create()
    name = url.rsplit("/", 1)[1]
    refused = [
        "swift+https://swift.example.com/v1/AUTH_x/images/1",  # no such store: unknown scheme
        _data_file(glint, uuid.uuid4()).as_uri(),  # file:// is never accepted by PATCH
        f"{web.url}/missing",  # no data there
        f"http://localhost:{web.port}/{name}",  # host not in allowed_hosts
        f"{web.url}/to-metadata",  # a redirect to the metadata service
    ]
    for bad in refused:
        response = _add(owner, image["id"], bad)
        assert response.status_code == 400, (bad, response.text)
    assert _add(owner, image["id"], url, position="x").status_code == 400
    no_metadata = owner.patch(image["id"], [{"op": "add", "path": "/locations/-",
                                             "value": {"url": url}}])
    assert no_metadata.status_code == 400
    whole = owner.patch(image["id"], [{"op": "add", "path": "/locations",
                                       "value": _value(url)}])
    assert whole.status_code == 400 and "Invalid JSON pointer" in whole.json()["message"]
    assert owner.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"

    assert _add(owner, image["id"], url).status_code == 200
    duplicate = _add(owner, image["id"], url)
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["message"]
    other_size = _published(web, b"y" * 999)
    assert _add(owner, image["id"], other_size).status_code == 400
    same_size = _published(web, data)
    both = _add(owner, image["id"], same_size, position="0").json()["locations"]
    assert [location["url"] for location in both] == [same_size, url]


def test_validation_data_conflicts_are_409(owner: Caller, web: WebServer) -> None:
    data = b"validated"
    url = _published(web, data)
    image = owner.create()
    sha256 = {"os_hash_algo": "sha256", "os_hash_value": hashlib.sha256(data).hexdigest()}
    response = _add(owner, image["id"], url, validation=sha256)
    assert response.status_code == 409 and "os_hash_algo must be sha512" in response.text
    not_hex = {**_hashes(data), "checksum": "z" * 32}
    assert _add(owner, image["id"], url, validation=not_hex).status_code == 409
    second = _published(web, data)
    conflicting = owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": [
        _value(url, validation=_hashes(data)),
        _value(second, validation={**_hashes(data), "checksum": "0" * 32}),
    ]}])
    assert conflicting.status_code == 409 and "Conflicting values" in conflicting.text
    assert _add(owner, image["id"], url, validation=_hashes(data)).status_code == 200
    assert _add(owner, image["id"], second, validation=_hashes(data)).status_code == 200
    third = _published(web, data)
    different = _add(owner, image["id"], third, validation=_hashes(b"different"))
    assert different.status_code == 409 and "already set" in different.text


def test_remove_rules(owner: Caller, boss: Caller, web: WebServer, glint: GlintServer) -> None:
    data = b"removable data"
    image = _uploaded(owner, data)
    stored = _data_file(glint, image["id"])
    assert stored.exists()
    mirror = _published(web, data)
    assert _add(owner, image["id"], mirror).status_code == 200
    # delete_image_location is for admins by default.
    assert _remove(owner, image["id"], "0").status_code == 403
    assert _remove(boss, image["id"], "2").status_code == 400
    assert _remove(boss, image["id"], "x").status_code == 400
    response = _remove(boss, image["id"], "0")
    assert response.status_code == 200, response.text
    assert response.json()["locations"] == [{"url": mirror, "metadata": {}}]
    assert not stored.exists()  # as in Glance, the removed location's data is deleted
    last = _remove(boss, image["id"], "-")
    assert last.status_code == 403
    assert last.json()["message"] == "Cannot remove last location in the image."
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data


def test_data_another_image_uses_is_kept(owner: Caller, boss: Caller, web: WebServer,
                                         glint: GlintServer) -> None:
    data = b"shared data"
    first = _uploaded(owner, data)
    stored = _data_file(glint, first["id"])
    second = boss.create()
    added = boss.http.post(f"/v2/images/{second['id']}/locations", json={"url": stored.as_uri()})
    assert added.status_code == 202, added.text
    assert _add(owner, first["id"], _published(web, data)).status_code == 200
    assert _remove(boss, first["id"], "0").status_code == 200
    assert stored.exists()
    assert boss.http.get(f"/v2/images/{second['id']}/file").content == data


def test_replace(owner: Caller, web: WebServer) -> None:
    data = b"replaced"
    url = _published(web, data)
    image = owner.create()
    ops: list[dict[str, object]] = [{"op": "replace", "path": "/locations",
                                     "value": [_value(url, {"a": "b"})]}]
    body = owner.patch(image["id"], ops).json()
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["locations"] == [{"url": url, "metadata": {"a": "b"}}]
    # The same URLs: only the metadata changes.
    ops = [{"op": "replace", "path": "/locations", "value": [_value(url, {"k": ["v"]})]}]
    assert owner.patch(image["id"], ops).json()["locations"] == [
        {"url": url, "metadata": {"k": ["v"]}}]
    other = _published(web, data)
    ops = [{"op": "replace", "path": "/locations", "value": [_value(other)]}]
    response = owner.patch(image["id"], ops)
    assert response.status_code == 400 and "Original locations is not empty" in response.text
    empty = owner.patch(image["id"], [{"op": "replace", "path": "/locations", "value": []}])
    assert empty.status_code == 403
    assert empty.json()["message"] == "Cannot set locations to empty list."
    ops = [{"op": "replace", "path": "/locations", "value": [_value(url, {"n": 1})]}]
    assert owner.patch(image["id"], ops).status_code == 400  # metadata: strings only


def test_location_and_property_changes_are_atomic(owner: Caller, web: WebServer) -> None:
    url = _published(web, b"atomic")
    image = owner.create()
    response = owner.patch(image["id"], [
        {"op": "add", "path": "/locations/-", "value": _value(url)},
        {"op": "add", "path": "/color", "value": "blue"},
    ])
    assert response.status_code == 200, response.text
    assert response.json()["color"] == "blue" and response.json()["status"] == "active"
    failing = owner.patch(image["id"], [
        {"op": "add", "path": "/locations/-", "value": _value(_published(web, b"atomic"))},
        {"op": "remove", "path": "/no-such-property"},
    ])
    assert failing.status_code == 409
    assert len(owner.http.get(f"/v2/images/{image['id']}").json()["locations"]) == 1


def test_deactivated_images_keep_their_locations(owner: Caller, boss: Caller,
                                                 web: WebServer) -> None:
    data = b"deactivated"
    image = _uploaded(owner, data)
    assert _add(owner, image["id"], _published(web, data)).status_code == 200
    assert boss.http.post(f"/v2/images/{image['id']}/actions/deactivate").status_code == 204
    assert _add(owner, image["id"], _published(web, data)).status_code == 409
    assert _remove(boss, image["id"], "0").status_code == 409


def test_stored_locations_carry_the_store_metadata(owner: Caller, boss: Caller,
                                                   glint: GlintServer) -> None:
    image = _uploaded(owner, b"with store metadata")
    expected = [{"url": _data_file(glint, image["id"]).resolve().as_uri(),
                 "metadata": {"id": "share-1", "mountpoint": str(glint.folder / "images")}}]
    assert image["locations"] == expected
    assert boss.http.get(f"/v2/images/{image['id']}/locations").json() == expected


def test_locations_are_shown_to_those_get_image_location_allows(
        owner: Caller, stranger: Caller, web: WebServer) -> None:
    data = b"community data"
    image = owner.create(visibility="community")
    url = _published(web, data)
    assert _add(owner, image["id"], url).status_code == 200
    reader = Caller(owner.base_url, owner.project_id, ("reader",))
    assert reader.http.get(f"/v2/images/{image['id']}").json()["direct_url"] == url
    seen = stranger.http.get(f"/v2/images/{image['id']}").json()
    assert seen["locations"] == [] and "direct_url" not in seen
    listed = stranger.http.get("/v2/images", params={"visibility": "community"}).json()
    assert all(entry["locations"] == [] for entry in listed["images"])
    # Someone else's image: set_image_location is for the owner's members.
    assert _add(stranger, image["id"], _published(web, data)).status_code == 403


def test_owner_adds_an_allowed_url(owner: Caller, web: WebServer) -> None:
    data = os.urandom(70_000)
    url = _published(web, data)
    image = owner.create()
    body = {"url": url, "validation_data": {"os_hash_algo": "sha512",
                                            "os_hash_value": hashlib.sha512(data).hexdigest()}}
    response = owner.http.post(f"/v2/images/{image['id']}/locations", json=body)
    assert response.status_code == 202, response.text
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data
    # A redirect to an allowed place is followed.
    _published(web, data, name="allowed-target")
    second = owner.create()
    response = owner.http.post(f"/v2/images/{second['id']}/locations",
                               json={"url": f"{web.url}/to-allowed"})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5", "sha512"])
def test_validation_data_names_the_image_hash_algorithm(owner: Caller, web: WebServer,
                                                         algorithm: str) -> None:
    """As in Glance: validation_data in another algorithm than hashing_algorithm
    (sha512 here) is accepted, and the image takes that os_hash_algo."""
    data = os.urandom(40_000)
    url = _published(web, data)
    image = owner.create()
    expected = hashlib.new(algorithm, data).hexdigest()
    response = owner.http.post(f"/v2/images/{image['id']}/locations", json={
        "url": url, "validation_data": {"os_hash_algo": algorithm, "os_hash_value": expected}})
    assert response.status_code == 202, response.text
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        "active", algorithm, expected)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize(("validation", "problem"), [
    ({"os_hash_algo": "sha3_256", "os_hash_value": "ab" * 32}, "os_hash_algo must be one of"),
    ({"os_hash_algo": "sha256", "os_hash_value": "ab" * 64}, "not a sha256 digest"),
    ({"os_hash_value": "ab" * 64}, "go together"),
])
def test_malformed_validation_data_is_400(owner: Caller, web: WebServer,
                                          validation: dict[str, str], problem: str) -> None:
    url = _published(web, os.urandom(1000))
    image = owner.create()
    response = owner.http.post(f"/v2/images/{image['id']}/locations",
                               json={"url": url, "validation_data": validation})
    assert response.status_code == 400 and problem in response.text, response.text
    assert owner.http.get(f"/v2/images/{image['id']}/tasks").json() == {"tasks": []}
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["os_hash_algo"]) == ("queued", None)


def _location_tasks(caller: Caller, image_id: object) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = caller.http.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert all(task["type"] == "location_import" for task in tasks)
    return tasks


def test_the_location_import_task_records_the_outcome(owner: Caller, web: WebServer) -> None:
    """As in Glance: 202 and a location_import task, success with the image active,
    failure (data not matching, or unreadable) with the image queued and untouched."""
    data = os.urandom(5000)
    url = _published(web, data)
    image = owner.create()
    wrong = {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16}
    response = owner.http.post(f"/v2/images/{image['id']}/locations",
                               json={"url": url, "validation_data": wrong})
    assert response.status_code == 202, response.text
    [failed] = _location_tasks(owner, image["id"])
    assert failed["status"] == "failure" and "not matched" in failed["message"]
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) \
        == ("queued", None, None, None)
    missing = owner.http.post(f"/v2/images/{image['id']}/locations",
                              json={"url": f"{web.url}/no-such-file"})
    assert missing.status_code == 202, missing.text
    assert [t["status"] for t in _location_tasks(owner, image["id"])] == ["failure", "failure"]
    assert owner.http.post(f"/v2/images/{image['id']}/locations",
                           json={"url": url}).status_code == 202
    tasks = _location_tasks(owner, image["id"])
    assert sorted(t["status"] for t in tasks) == ["failure", "failure", "success"]
    [succeeded] = [t for t in tasks if t["status"] == "success"]
    assert succeeded["input"] == {"image_id": image["id"], "loc_url": url,
                                  "validation_data": {}}
    shown = owner.http.get(f"/v2/images/{image['id']}").json()
    assert (shown["status"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        "active", "sha512", hashlib.sha512(data).hexdigest())


def test_owner_is_refused_denied_urls(owner: Caller, stranger: Caller, web: WebServer,
                                      glint: GlintServer) -> None:
    url = _published(web, b"denied")
    image = owner.create(visibility="community")
    path = f"/v2/images/{image['id']}/locations"
    name = url.rsplit("/", 1)[1]
    for bad in (f"http://localhost:{web.port}/{name}", f"http://127.0.0.1:1/{name}",
                f"{web.url}/to-metadata", METADATA_SERVICE):
        response = owner.http.post(path, json={"url": bad})
        assert response.status_code == 400, (bad, response.text)
    # Not http(s): forbidden to callers without the service role, as in Glance.
    for other_scheme in (_data_file(glint, uuid.uuid4()).as_uri(), "rbd://fsid/pool/image/snap",
                         f"swift+https://a:b@{name}/c/d"):
        response = owner.http.post(path, json={"url": other_scheme})
        assert response.status_code == 403, (other_scheme, response.text)
        assert "http store must be enabled" in response.text
    assert owner.http.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    # add_image_location: the owner's members (or services) only.
    assert stranger.http.post(path, json={"url": url}).status_code == 403


def test_without_show_multiple_locations(hidden: GlintServer) -> None:
    owner = Caller(hidden.url, uuid.uuid4().hex, ("member", "reader"))
    boss = Caller(hidden.url, uuid.uuid4().hex, ("admin", "member", "reader"))
    image = owner.create()
    assert "locations" not in image and "direct_url" not in image
    response = _add(owner, image["id"], "http://example.com/image")
    assert response.status_code == 403
    assert response.json()["message"] == ("It's not allowed to add locations if locations are "
                                          "invisible.")
    replace = boss.patch(image["id"], [{"op": "replace", "path": "/locations",
                                        "value": [_value("http://example.com/image")]}])
    assert replace.status_code == 403 and "invisible" in replace.text
    assert _remove(boss, image["id"], "0").status_code == 403


@pytest.fixture(scope="module")
def multistore(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[GlintServer]:
    """A file store, nginx as the http store and SeaweedFS as an s3 store."""
    folder = tmp_path_factory.mktemp("multistore-locations")
    with seaweedfs(folder / "seaweedfs") as s3:
        extra: dict[str, dict[str, object]] = {
            "DEFAULT": {"enabled_backends": "fast:file, web:http, objects:s3",
                        "show_multiple_locations": "true"},
            "glance_store": {"default_backend": "fast"},
            "fast": {"filesystem_store_datadir": folder / "fast"},
            "web": {},
            "objects": s3.options(),
            "import_filtering_opts": {"allowed_hosts": "127.0.0.1", "allowed_ports": web.port},
        }
        with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", extra=extra) as server:
            yield server


def test_multistore_locations_name_their_store(multistore: GlintServer, web: WebServer) -> None:
    owner = Caller(multistore.url, uuid.uuid4().hex, ("member", "reader"))
    boss = Caller(multistore.url, uuid.uuid4().hex, ("admin", "member", "reader"))
    data = b"in two stores"
    image = _uploaded(owner, data)
    url = _published(web, data)
    # The store comes from the URL, whatever a copied `store` key says.
    body = _add(owner, image["id"], url, metadata={"store": "fast", "kind": "mirror"}).json()
    assert body["stores"] == "fast,web"
    assert body["locations"][1] == {"url": url, "metadata": {"kind": "mirror", "store": "web"}}
    assert _remove(boss, image["id"], "0").json()["stores"] == "web"
    assert not (multistore.folder / "fast" / str(image["id"])).exists()
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data


def test_draft_4_patches_edit_locations_too(owner: Caller, web: WebServer) -> None:
    url = _published(web, b"draft 4")
    image = owner.create()
    response = owner.http.patch(
        f"/v2/images/{image['id']}", json=[{"add": "/locations/-", "value": _value(url)}],
        headers={"Content-Type": "application/openstack-images-v2.0-json-patch"})
    assert response.status_code == 200, response.text
    assert response.json()["locations"] == [{"url": url, "metadata": {}}]


def test_users_cannot_name_data_another_image_has(multistore: GlintServer) -> None:
    owner = Caller(multistore.url, uuid.uuid4().hex, ("member", "reader"))
    other = Caller(multistore.url, uuid.uuid4().hex, ("member", "reader"))
    boss = Caller(multistore.url, uuid.uuid4().hex, ("admin", "member", "reader"))
    data = b"private object"
    image = owner.create()
    stored = owner.http.put(f"/v2/images/{image['id']}/file", content=data,
                            headers={**OCTET, "X-Image-Meta-Store": "objects"})
    assert stored.status_code == 204, stored.text
    url = owner.http.get(f"/v2/images/{image['id']}").json()["locations"][0]["url"]
    assert url.startswith("s3://")
    for caller in (other, owner):
        theirs = caller.create()
        response = _add(caller, theirs["id"], url)
        assert response.status_code == 400 and "another image uses" in response.text
    # Services and admins are trusted to share data between images (as copies do).
    shared = boss.create()
    assert _add(boss, shared["id"], url).status_code == 200
    assert boss.http.get(f"/v2/images/{shared['id']}/file").content == data
    # Deleting either image leaves the data the other still has.
    assert boss.http.delete(f"/v2/images/{shared['id']}").status_code == 204
    assert owner.http.get(f"/v2/images/{image['id']}/file").content == data
