"""`[paste_deploy] flavor = keystone` against a real Keystone 30 with memcached."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.keystone import Keystone
from tests.servers import GlintServer, free_port, glint_server

pytestmark = pytest.mark.keystone

SERVICE_PASSWORD = "glint-service-secret"


@dataclass
class Identities:
    member: str
    reader: str
    other: str
    admin: str
    owner_project: str


@dataclass
class ServiceUser:
    name: str
    project: str


@pytest.fixture(scope="module")
def service_user(keystone: Keystone) -> ServiceUser:
    project, project_id = keystone.project()
    return ServiceUser(keystone.user(project_id, ("admin", "service"), SERVICE_PASSWORD), project)


@pytest.fixture(scope="module")
def keystone_server(keystone: Keystone, service_user: ServiceUser,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-keystone")
    section = keystone.authtoken_section(service_user.name, SERVICE_PASSWORD,
                                         project=service_user.project)
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="keystone",
                      extra={"keystone_authtoken": section}) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(keystone: Keystone) -> Identities:
    project, project_id = keystone.project()
    other_project, _ = keystone.project()
    member = keystone.user(project_id, ("member",))
    reader = keystone.user(project_id, ("reader",))
    other = keystone.user(keystone.project(other_project + "-x")[1], ("member",))
    return Identities(
        member=keystone.token(member, "pw-secret", project),
        reader=keystone.token(reader, "pw-secret", project),
        other=keystone.token(other, "pw-secret", other_project + "-x"),
        admin=keystone.token("admin", "keystone-admin-secret", "admin"),
        owner_project=project_id,
    )


def client(server: GlintServer, token: str | None = None, **headers: str) -> httpx.Client:
    if token is not None:
        headers["X-Auth-Token"] = token
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def test_discovery_needs_no_token(keystone_server: GlintServer) -> None:
    with client(keystone_server) as anonymous:
        assert anonymous.get("/versions").status_code == 200
        assert anonymous.get("/").status_code == 300
        assert anonymous.get("/healthcheck").status_code == 200


def test_missing_token_is_401_naming_keystone(keystone_server: GlintServer,
                                              keystone: Keystone) -> None:
    with client(keystone_server) as anonymous:
        response = anonymous.get("/v2/images")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.url}"'


def test_bad_token_is_401(keystone_server: GlintServer) -> None:
    with client(keystone_server, "gAAAAA-not-a-token") as caller:
        response = caller.get("/v2/images")
    assert response.status_code == 401
    assert "Keystone uri=" in response.headers["WWW-Authenticate"]


def test_identity_headers_from_the_client_are_not_trusted(keystone_server: GlintServer,
                                                          tokens: Identities) -> None:
    spoofed = {"X-Identity-Status": "Confirmed", "X-Roles": "admin,member,reader",
               "X-Project-Id": "someone-else", "X-User-Id": "root"}
    with client(keystone_server, **spoofed) as anonymous:
        assert anonymous.get("/v2/images").status_code == 401
    with client(keystone_server, tokens.member, **spoofed) as member:
        image = member.post("/v2/images", json={"name": "mine"}).json()
        assert image["owner"] == tokens.owner_project
        publicize = member.patch(
            f"/v2/images/{image['id']}",
            json=[{"op": "replace", "path": "/visibility", "value": "public"}],
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        assert publicize.status_code == 403


def test_roles_from_tokens_drive_the_policy(keystone_server: GlintServer,
                                            tokens: Identities) -> None:
    with client(keystone_server, tokens.member) as member:
        image = member.post("/v2/images", json={"name": "policy", "disk_format": "raw",
                                                "container_format": "bare"}).json()
        upload = member.put(f"/v2/images/{image['id']}/file", content=b"x" * 1024,
                            headers={"Content-Type": "application/octet-stream"})
        assert upload.status_code == 204
    with client(keystone_server, tokens.reader) as reader:
        assert reader.post("/v2/images", json={"name": "no"}).status_code == 403
        assert reader.get(f"/v2/images/{image['id']}").status_code == 200
        assert reader.get(f"/v2/images/{image['id']}/file").status_code == 403
    with client(keystone_server, tokens.other) as other:
        assert other.get(f"/v2/images/{image['id']}").status_code == 404
        assert other.delete(f"/v2/images/{image['id']}").status_code == 404
    with client(keystone_server, tokens.admin) as admin:
        publicize = admin.patch(
            f"/v2/images/{image['id']}",
            json=[{"op": "replace", "path": "/visibility", "value": "public"}],
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        assert publicize.status_code == 200
    with client(keystone_server, tokens.other) as other:
        assert other.get(f"/v2/images/{image['id']}/file").content == b"x" * 1024
        assert other.delete(f"/v2/images/{image['id']}").status_code == 403


def test_service_tokens_are_validated(keystone_server: GlintServer, tokens: Identities,
                                      keystone: Keystone, service_user: ServiceUser) -> None:
    service_token = keystone.token(service_user.name, SERVICE_PASSWORD, service_user.project)
    with client(keystone_server, tokens.member, **{"X-Service-Token": service_token}) as both:
        assert both.get("/v2/images").status_code == 200
    with client(keystone_server, tokens.member, **{"X-Service-Token": "bogus"}) as bad:
        assert bad.get("/v2/images").status_code == 401


def _memcached_items(servers: str) -> int:
    host, port = servers.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += connection.recv(65536)
    for line in data.decode().splitlines():
        if line.startswith("STAT total_items "):
            return int(line.split()[2])
    raise AssertionError("no total_items in memcached stats")


def test_validations_are_cached_in_memcached(keystone_server: GlintServer,
                                             tokens: Identities, keystone: Keystone) -> None:
    with client(keystone_server, tokens.reader) as reader:
        assert reader.get("/v2/images").status_code == 200
    assert _memcached_items(keystone.memcached_servers) > 0


def test_keystone_unreachable_is_503(tmp_path_factory: pytest.TempPathFactory,
                                     keystone: Keystone, tokens: Identities) -> None:
    folder = tmp_path_factory.mktemp("glint-no-keystone")
    dead = f"http://127.0.0.1:{free_port()}"
    section = {**keystone.authtoken_section("nobody", "x"), "auth_url": dead,
               "www_authenticate_uri": dead, "http_request_max_retries": 0}
    del section["memcached_servers"]
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="keystone",
                      extra={"keystone_authtoken": section}) as server:
        with client(server, tokens.member) as member:
            response = member.get("/v2/images")
        assert response.status_code == 503
        assert tokens.member not in server.log.read_text()
