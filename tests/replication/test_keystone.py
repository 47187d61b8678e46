"""`glint replicate` between two Glints behind a real Keystone: tokens, then credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glint.client.images import ImageClient
from tests.glance import running_glance
from tests.keystone import ADMIN_PASSWORD, Keystone
from tests.replication.catalog import assert_same, replicate, seed
from tests.replication.test_glint_to_glint import summary
from tests.servers import GlintServer, glint_server

pytestmark = pytest.mark.keystone

SERVICE_PASSWORD = "glint-service-secret"


@pytest.fixture(scope="module")
def service_user(keystone: Keystone) -> tuple[str, str]:
    project, project_id = keystone.project()
    return keystone.user(project_id, ("admin", "service"), SERVICE_PASSWORD), project


def _server(keystone: Keystone, user: tuple[str, str], folder: Path) -> Iterator[GlintServer]:
    section = keystone.authtoken_section(user[0], SERVICE_PASSWORD, project=user[1])
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="keystone",
                      extra={"keystone_authtoken": section}) as running:
        yield running


@pytest.fixture
def source(keystone: Keystone, service_user: tuple[str, str],
           tmp_path: Path) -> Iterator[GlintServer]:
    yield from _server(keystone, service_user, tmp_path / "source")


@pytest.fixture
def target(keystone: Keystone, service_user: tuple[str, str],
           tmp_path: Path) -> Iterator[GlintServer]:
    yield from _server(keystone, service_user, tmp_path / "target")


def test_tokens_then_credentials(keystone: Keystone, source: GlintServer,
                                 target: GlintServer) -> None:
    token = keystone.token("admin", ADMIN_PASSWORD, "admin")
    with ImageClient(source.url, token) as left, ImageClient(target.url, token) as right:
        ids = seed(left, 6)
        refused = replicate("livecopy", source.url, target.url, check=False)
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr, refused.stderr

        copied = replicate("livecopy", "--sourcetoken", token, "--targettoken", token,
                           source.url, target.url).stdout
        assert (summary(copied)["created"], summary(copied)["failed"]) == (6, 0)
        assert_same(left, right, ids)
        assert "Total size is" in replicate("size", "-t", token, target.url).stdout

        left.update(ids[1], [{"op": "replace", "path": "/name", "value": "renamed"}])
        environment = keystone.client_environment()
        again = summary(replicate("livecopy", source.url, target.url, env=environment).stdout)
        assert (again["updated"], again["unchanged"], again["bytes"]) == (1, 5, 0)
        compared = replicate("compare", "--mastertoken", token, source.url, target.url,
                             env=environment).stdout
        assert compared.strip().endswith("0 differences: 0 missing, 0 differing, "
                                         "0 on the destination only"), compared

        wrong = {**environment, "OS_PASSWORD": "wrong"}
        refused = replicate("compare", source.url, target.url, env=wrong, check=False)
        assert refused.returncode == 1 and "refused the credentials" in refused.stderr
        assert "wrong" not in refused.stderr


def test_glance_and_glint_both_behind_keystone(keystone: Keystone, service_user: tuple[str, str],
                                               target: GlintServer, tmp_path: Path) -> None:
    section = keystone.authtoken_section(service_user[0], SERVICE_PASSWORD,
                                         project=service_user[1])
    # Glance's virtual environment has no memcached client: its token cache stays in process.
    del section["memcached_servers"]
    token = keystone.token("admin", ADMIN_PASSWORD, "admin")
    environment = keystone.client_environment()
    with running_glance(tmp_path / "glance", section) as glance, \
            ImageClient(glance, token) as left, ImageClient(target.url, token) as right:
        ids = seed(left, 5, first=500)
        copied = summary(replicate("livecopy", glance, target.url, env=environment).stdout)
        assert (copied["created"], copied["failed"]) == (5, 0)
        assert_same(left, right, ids)
        compared = replicate("compare", "-t", token, glance, target.url).stdout
        assert compared.strip().endswith("0 differences: 0 missing, 0 differing, "
                                         "0 on the destination only"), compared

        back = seed(right, 2, first=600)
        returned = summary(replicate("livecopy", "--sourcetoken", token, "--targettoken", token,
                                     target.url, glance).stdout)
        assert (returned["created"], returned["unchanged"], returned["failed"]) == (2, 5, 0)
        assert_same(right, left, back)
