"""Every image operation for each kind of caller, as Glance 33's default policy
answers it. Identity comes from the trusted headers here (fast); the same
decisions are checked again with real Keystone tokens in test_keystone.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import Caller
from tests.servers import GlintServer, glint_server

DATA = b"glint-policy-matrix" * 100


@pytest.fixture(scope="module")
def trusted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-policy")
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="trusted") as running:
        yield running


class Cast:
    """The owning project's member and reader, an admin elsewhere, and a member
    of another project."""

    def __init__(self, url: str) -> None:
        project = uuid.uuid4().hex
        self.member = Caller(url, project, ("member", "reader"))
        self.reader = Caller(url, project, ("reader",))
        self.admin = Caller(url, uuid.uuid4().hex, ("admin", "member", "reader"))
        self.other = Caller(url, uuid.uuid4().hex, ("member", "reader"))

    def caller(self, name: str) -> Caller:
        caller: Caller = getattr(self, name)
        return caller

    def image(self, *, active: bool = False, **body: object) -> str:
        image = self.member.create(**body)
        if active:
            assert self.member.upload(image["id"], DATA).status_code == 204
        return str(image["id"])


def _patch(caller: Caller, image_id: str, path: str, value: object) -> httpx.Response:
    return caller.patch(image_id, [{"op": "replace", "path": path, "value": value}])


Operation = Callable[[Cast, Caller], httpx.Response]


def _create(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.post("/v2/images", json={"name": "x", "disk_format": "raw",
                                                "container_format": "bare"})


def _create_for_owner(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.post("/v2/images", json={"name": "x", "owner": cast.member.project_id})


def _list(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.get("/v2/images")


def _show(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.get(f"/v2/images/{cast.image()}")


def _show_public(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image()
    assert _patch(cast.admin, image_id, "/visibility", "public").status_code == 200
    return caller.http.get(f"/v2/images/{image_id}")


def _update(cast: Cast, caller: Caller) -> httpx.Response:
    return _patch(caller, cast.image(), "/name", "renamed")


def _upload(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.upload(cast.image(), DATA)


def _download(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.get(f"/v2/images/{cast.image(active=True)}/file")


def _download_public(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image(active=True)
    assert _patch(cast.admin, image_id, "/visibility", "public").status_code == 200
    return caller.http.get(f"/v2/images/{image_id}/file")


def _delete(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.delete(f"/v2/images/{cast.image()}")


def _delete_public(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image()
    assert _patch(cast.admin, image_id, "/visibility", "public").status_code == 200
    return caller.http.delete(f"/v2/images/{image_id}")


def _publicize(cast: Cast, caller: Caller) -> httpx.Response:
    return _patch(caller, cast.image(), "/visibility", "public")


def _communitize(cast: Cast, caller: Caller) -> httpx.Response:
    return _patch(caller, cast.image(), "/visibility", "community")


def _share(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image(visibility="shared")
    return caller.http.post(f"/v2/images/{image_id}/members",
                            json={"member": cast.other.project_id})


def _accept(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image(visibility="shared")
    added = cast.member.http.post(f"/v2/images/{image_id}/members",
                                  json={"member": cast.other.project_id})
    assert added.status_code == 200, added.text
    return caller.http.put(f"/v2/images/{image_id}/members/{cast.other.project_id}",
                           json={"status": "accepted"})


def _list_members(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image(visibility="shared")
    return caller.http.get(f"/v2/images/{image_id}/members")


def _deactivate(cast: Cast, caller: Caller) -> httpx.Response:
    return caller.http.post(f"/v2/images/{cast.image(active=True)}/actions/deactivate")


def _reactivate(cast: Cast, caller: Caller) -> httpx.Response:
    image_id = cast.image(active=True)
    deactivated = cast.member.http.post(f"/v2/images/{image_id}/actions/deactivate")
    assert deactivated.status_code == 204
    return caller.http.post(f"/v2/images/{image_id}/actions/reactivate")


# operation -> statuses for (admin, member of the owning project, reader of the
# owning project, member of another project), as Glance 33 answers.
MATRIX: dict[str, tuple[Operation, tuple[int, int, int, int]]] = {
    "create": (_create, (201, 201, 403, 201)),
    "create for the owning project": (_create_for_owner, (201, 201, 403, 403)),
    "list": (_list, (200, 200, 200, 200)),
    "show": (_show, (200, 200, 200, 404)),
    "show public": (_show_public, (200, 200, 200, 200)),
    "update": (_update, (200, 200, 403, 404)),
    "upload": (_upload, (204, 204, 403, 404)),
    "download": (_download, (200, 200, 403, 404)),
    "download public": (_download_public, (200, 200, 403, 200)),
    "delete": (_delete, (204, 204, 403, 404)),
    "delete public": (_delete_public, (204, 204, 403, 403)),
    "publicize": (_publicize, (200, 403, 403, 404)),
    "communitize": (_communitize, (200, 200, 403, 404)),
    "share": (_share, (200, 200, 403, 404)),
    "accept membership": (_accept, (200, 403, 403, 200)),
    "list members": (_list_members, (200, 200, 200, 404)),
    "deactivate": (_deactivate, (204, 204, 403, 404)),
    "reactivate": (_reactivate, (204, 204, 403, 404)),
}
CALLERS = ("admin", "member", "reader", "other")


@pytest.fixture(scope="module")
def cast(trusted_server: GlintServer) -> Cast:
    return Cast(trusted_server.url)


@pytest.mark.parametrize("operation", list(MATRIX))
@pytest.mark.parametrize("who", CALLERS)
def test_default_policy(cast: Cast, operation: str, who: str) -> None:
    run, expected = MATRIX[operation]
    response = run(cast, cast.caller(who))
    assert response.status_code == expected[CALLERS.index(who)], response.text


def test_reader_lists_only_what_it_may_see(cast: Cast) -> None:
    private = cast.image()
    elsewhere = Caller(cast.other.base_url, cast.other.project_id, ("member", "reader")).create()
    listed = {image["id"] for image in cast.reader.http.get("/v2/images").json()["images"]}
    assert private in listed and elsewhere["id"] not in listed

