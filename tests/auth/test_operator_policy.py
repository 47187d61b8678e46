"""An operator's policy.yaml and property protection file change decisions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from glint.config_file import ConfigError
from glint.domain.context import RequestContext
from glint.domain.image import Image, ImageStatus, Visibility
from glint.domain.metadefs import Namespace, NamespaceVisibility
from glint.domain.policy import Target
from glint.services.authorization import build_policy
from glint.settings import PolicySettings
from tests.conftest import Caller
from tests.servers import GlintServer, glint_server

POLICY = """\
# Members may publish; nobody below admin may list.
"publicize_image": "role:admin or role:member"
"get_images": "role:admin"
"prop_owner": "role:admin or role:member"
# Members manage their own project's metadata definitions; object lists are admin-only.
"add_metadef_namespace": "role:admin or role:member"
"modify_metadef_namespace": "role:admin or (role:member and project_id:%(project_id)s)"
"add_metadef_object": "role:admin or (role:member and project_id:%(project_id)s)"
"get_metadef_objects": "role:admin"
"""

ROLE_PROTECTIONS = """\
[^x_billing_.*]
create = admin
read = admin,member
update = admin
delete = admin

[^x_secret$]
create = admin
read = admin
update = admin
delete = !

[.*]
create = @
read = @
update = @
delete = @
"""

POLICY_PROTECTIONS = """\
[^x_owner_.*]
create = prop_owner
read = @
update = prop_owner
delete = !

[.*]
create = @
read = @
update = @
delete = @
"""


def _server(folder: Path, extra: dict[str, dict[str, object]]) -> Iterator[GlintServer]:
    with glint_server(folder, f"sqlite:///{folder / 'glint.db'}", flavor="trusted",
                      extra=extra) as running:
        yield running


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-policy-file")
    (folder / "policy.yaml").write_text(POLICY)
    (folder / "property-protections.conf").write_text(ROLE_PROTECTIONS)
    yield from _server(folder, {
        "oslo_policy": {"policy_file": "policy.yaml"},
        "DEFAULT": {"property_protection_file": "property-protections.conf"},
    })


@pytest.fixture(scope="module")
def policies_format_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlintServer]:
    folder = tmp_path_factory.mktemp("glint-protect-policies")
    (folder / "policy.yaml").write_text(POLICY)
    (folder / "protections.conf").write_text(POLICY_PROTECTIONS)
    yield from _server(folder, {
        "oslo_policy": {"policy_file": str(folder / "policy.yaml")},
        "DEFAULT": {"property_protection_file": str(folder / "protections.conf"),
                    "property_protection_rule_format": "policies"},
    })


def _cast(url: str) -> tuple[Caller, Caller, Caller]:
    project = uuid.uuid4().hex
    return (Caller(url, uuid.uuid4().hex, ("admin", "member", "reader")),
            Caller(url, project, ("member", "reader")),
            Caller(url, project, ("reader",)))


def test_policy_file_overrides_defaults(policy_server: GlintServer) -> None:
    admin, member, _ = _cast(policy_server.url)
    image = member.create()
    published = member.patch(image["id"], [{"op": "replace", "path": "/visibility",
                                            "value": "public"}])
    assert published.status_code == 200, published.text  # default: admin only
    assert member.http.get("/v2/images").status_code == 403  # default: any reader
    assert admin.http.get("/v2/images").status_code == 200


def test_policy_file_overrides_metadef_defaults(policy_server: GlintServer) -> None:
    admin, member, reader = _cast(policy_server.url)
    other = Caller(policy_server.url, uuid.uuid4().hex, ("member", "reader"))
    name = f"OS::Test::{uuid.uuid4().hex[:8]}"
    created = member.http.post("/v2/metadefs/namespaces",
                               json={"namespace": name, "visibility": "public"})
    assert created.status_code == 201, created.text  # default: admin only
    assert created.json()["owner"] == member.project_id
    renamed = member.http.put(f"/v2/metadefs/namespaces/{name}",
                              json={"namespace": name, "visibility": "public",
                                    "display_name": "Mine"})
    assert renamed.status_code == 200, renamed.text
    obj = {"name": "thing", "properties": {}}
    assert member.http.post(f"/v2/metadefs/namespaces/{name}/objects",
                            json=obj).status_code == 201
    # Readable (public) but not the caller's: 403, never 404.
    assert other.http.put(f"/v2/metadefs/namespaces/{name}",
                          json={"namespace": name}).status_code == 403
    assert other.http.post(f"/v2/metadefs/namespaces/{name}/objects",
                           json={"name": "x"}).status_code == 403
    # Object lists are the admin's alone; the object itself stays readable.
    assert reader.http.get(f"/v2/metadefs/namespaces/{name}/objects").status_code == 403
    assert reader.http.get(f"/v2/metadefs/namespaces/{name}/objects/thing").status_code == 200
    assert admin.http.get(f"/v2/metadefs/namespaces/{name}/objects").json()["objects"]
    # Untouched default: deleting stays admin-only.
    assert member.http.delete(f"/v2/metadefs/namespaces/{name}").status_code == 403
    assert admin.http.delete(f"/v2/metadefs/namespaces/{name}").status_code == 204


def test_protected_property_create_update_delete(policy_server: GlintServer) -> None:
    admin, member, _ = _cast(policy_server.url)
    refused = member.http.post("/v2/images", json={"name": "p", "x_billing_code": "7"})
    assert refused.status_code == 403
    image = member.create(x_free="yes")
    assert image["x_free"] == "yes"
    assert admin.patch(image["id"], [{"op": "add", "path": "/x_billing_code",
                                      "value": "7"}]).status_code == 200
    assert member.patch(image["id"], [{"op": "replace", "path": "/x_billing_code",
                                       "value": "8"}]).status_code == 403
    assert member.patch(image["id"], [{"op": "remove",
                                       "path": "/x_billing_code"}]).status_code == 403
    assert member.http.get(f"/v2/images/{image['id']}").json()["x_billing_code"] == "7"
    assert admin.patch(image["id"], [{"op": "remove",
                                      "path": "/x_billing_code"}]).status_code == 200


def test_unreadable_property_is_hidden_and_kept(policy_server: GlintServer) -> None:
    admin, member, reader = _cast(policy_server.url)
    image = member.create()
    assert admin.patch(image["id"], [{"op": "add", "path": "/x_secret",
                                      "value": "s3"}]).status_code == 200
    assert "x_secret" not in member.http.get(f"/v2/images/{image['id']}").json()
    assert admin.http.get(f"/v2/images/{image['id']}").json()["x_secret"] == "s3"
    renamed = member.patch(image["id"], [{"op": "replace", "path": "/name", "value": "n"}])
    assert renamed.status_code == 200 and "x_secret" not in renamed.json()
    assert admin.http.get(f"/v2/images/{image['id']}").json()["x_secret"] == "s3"
    assert admin.patch(image["id"], [{"op": "remove",
                                      "path": "/x_secret"}]).status_code == 403  # "!"


def test_policies_rule_format(policies_format_server: GlintServer) -> None:
    _, member, reader = _cast(policies_format_server.url)
    image = member.create(x_owner_team="infra")
    assert image["x_owner_team"] == "infra"
    assert reader.http.get(f"/v2/images/{image['id']}").json()["x_owner_team"] == "infra"
    assert member.patch(image["id"], [{"op": "remove",
                                       "path": "/x_owner_team"}]).status_code == 403


# In-process checks of the oslo.policy engine -------------------------------

MOMENT = Image(id="i", status=ImageStatus.ACTIVE, visibility=Visibility.PRIVATE,
               created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1), owner="p1")


def test_legacy_defaults_when_new_defaults_are_off() -> None:
    reader = RequestContext(request_id="r", project_id="p1", roles=frozenset({"reader"}))
    strict = build_policy(PolicySettings())
    legacy = build_policy(PolicySettings(enforce_new_defaults=False))
    assert not strict.allows("delete_image", reader, Target(MOMENT))
    assert legacy.allows("delete_image", reader, Target(MOMENT))  # "rule:default" is ""


def test_legacy_metadef_defaults_let_anyone_read() -> None:
    outsider = RequestContext(request_id="r", project_id="p2", roles=frozenset())
    private = Namespace(namespace="N", visibility=NamespaceVisibility.PRIVATE, protected=False,
                        owner="p2", created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1))
    strict = build_policy(PolicySettings()).metadefs
    legacy = build_policy(PolicySettings(enforce_new_defaults=False)).metadefs
    assert not strict.allows("get_metadef_namespace", outsider, private)
    assert legacy.allows("get_metadef_namespace", outsider, private)  # "rule:metadef_default"
    assert not legacy.allows("add_metadef_namespace", outsider)


def test_system_scoped_tokens_do_not_pass_project_rules() -> None:
    system_admin = RequestContext(request_id="r", roles=frozenset({"admin"}), is_admin=True,
                                  system_scope="all")
    assert not build_policy(PolicySettings()).allows("delete_image", system_admin,
                                                     Target(MOMENT))


def test_unusable_files_stop_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text('"get_images": [unclosed\n')
    with pytest.raises(ConfigError, match="policy_file"):
        build_policy(PolicySettings(policy_file=bad))
    protections = tmp_path / "protections.conf"
    protections.write_text("[^x_.*]\ncreate = @,!\n")
    with pytest.raises(ConfigError, match="property_protection_file"):
        build_policy(PolicySettings(property_protection_file=protections))
