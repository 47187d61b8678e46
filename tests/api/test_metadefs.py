"""Metadata definition namespaces over real HTTP: CRUD, listing, policy, resource types."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Caller

NS = "/v2/metadefs/namespaces"


def _name(prefix: str = "Test::NS") -> str:
    return f"{prefix}::{uuid.uuid4().hex[:12]}"


def _create(caller: Caller, **body: Any) -> dict[str, Any]:
    body.setdefault("namespace", _name())
    response = caller.http.post(NS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_show_and_defaults(admin: Caller) -> None:
    name = _name()
    response = admin.http.post(NS, json={"namespace": name, "display_name": "Test",
                                         "description": "d"})
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"{NS}/{name}")
    created = response.json()
    assert created["visibility"] == "private" and created["protected"] is False
    assert created["owner"] == admin.project_id
    assert created["self"] == f"{NS}/{name}"
    assert created["schema"] == "/v2/schemas/metadefs/namespace"
    assert created["created_at"].endswith("Z") and created["updated_at"].endswith("Z")
    shown = admin.http.get(f"{NS}/{name}").json()
    assert shown == created


def test_create_with_contents_and_resource_type_prefix(admin: Caller) -> None:
    name = _name()
    _create(admin, namespace=name, visibility="public",
            resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"},
                                        {"name": "OS::Nova::Flavor", "prefix": "hw:"}],
            properties={"cpu_cores": {"title": "Cores", "type": "integer", "minimum": 1}},
            objects=[{"name": "Limits", "required": ["quota"],
                      "properties": {"quota": {"title": "Quota", "type": "number"}}}],
            tags=[{"name": "alpha"}, {"name": "beta"}])
    shown = admin.http.get(f"{NS}/{name}").json()
    assert shown["properties"] == {"cpu_cores": {"title": "Cores", "type": "integer", "minimum": 1}}
    assert [t["name"] for t in shown["tags"]] == ["alpha", "beta"]
    assert [a["name"] for a in shown["resource_type_associations"]] == [
        "OS::Glance::Image", "OS::Nova::Flavor"]
    assert shown["objects"][0]["self"] == f"{NS}/{name}/objects/Limits"
    flavored = admin.http.get(f"{NS}/{name}", params={"resource_type": "OS::Nova::Flavor"}).json()
    assert list(flavored["properties"]) == ["hw:cpu_cores"]
    assert flavored["objects"][0]["required"] == ["hw:quota"]
    assert list(flavored["objects"][0]["properties"]) == ["hw:quota"]
    types = admin.http.get("/v2/metadefs/resource_types").json()["resource_types"]
    assert {"OS::Glance::Image", "OS::Nova::Flavor"} <= {t["name"] for t in types}


def test_bad_bodies(admin: Caller) -> None:
    for body in [{"namespace": ""}, {"namespace": "   "}, {"namespace": "a/b"},
                 {"display_name": "no name"}, {"namespace": _name(), "visibility": "shared"},
                 {"namespace": _name(), "unknown": 1}, {"namespace": "n" * 81},
                 {"namespace": _name(), "properties": {"p": {"type": "string"}}}]:
        response = admin.http.post(NS, json=body)
        assert response.status_code == 400, (body, response.text)
    for key in ("self", "schema", "created_at", "updated_at"):
        response = admin.http.post(NS, json={"namespace": _name(), key: "x"})
        assert response.status_code == 403, key


def test_duplicate_namespace_conflicts(admin: Caller) -> None:
    created = _create(admin)
    assert admin.http.post(NS, json={"namespace": created["namespace"]}).status_code == 409


def test_update_is_full_replace_and_can_rename(admin: Caller) -> None:
    created = _create(admin, visibility="public", protected=True, display_name="Old")
    new_name = _name()
    response = admin.http.put(f"{NS}/{created['namespace']}", json={"namespace": new_name})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["namespace"] == new_name
    assert updated["visibility"] == "private" and updated["protected"] is False
    assert "display_name" not in updated
    assert admin.http.get(f"{NS}/{created['namespace']}").status_code == 404
    assert admin.http.get(f"{NS}/{new_name}").status_code == 200
    other = _create(admin)
    clash = admin.http.put(f"{NS}/{other['namespace']}", json={"namespace": new_name})
    assert clash.status_code == 409


def test_delete_and_protected(admin: Caller) -> None:
    protected = _create(admin, protected=True, tags=[{"name": "t"}],
                        properties={"p": {"title": "P", "type": "string"}},
                        objects=[{"name": "o"}])
    base = f"{NS}/{protected['namespace']}"
    assert admin.http.delete(base).status_code == 403
    for path in ("/tags/t", "/properties/p", "/objects/o", "/tags", "/properties", "/objects"):
        assert admin.http.delete(base + path).status_code == 403, path
    admin.http.put(base, json={"namespace": protected["namespace"], "protected": False})
    assert admin.http.delete(base).status_code == 204
    assert admin.http.get(base).status_code == 404
    assert admin.http.delete(base).status_code == 404


def test_policy_reads_and_writes(admin: Caller, member: Caller, other: Caller,
                                 reader: Caller, anonymous: httpx.Client) -> None:
    public = _create(admin, visibility="public")["namespace"]
    own = _create(admin, owner=member.project_id)["namespace"]
    foreign = _create(admin, owner=other.project_id)["namespace"]
    for caller in (member, reader):
        assert caller.http.get(f"{NS}/{public}").status_code == 200
        assert caller.http.get(f"{NS}/{own}").status_code == 200
        assert caller.http.get(f"{NS}/{foreign}").status_code == 404
        assert caller.http.get(f"{NS}/{foreign}/objects").status_code == 404
        listed = {n["namespace"] for n in caller.http.get(NS, params={"limit": 1000}).json()[
            "namespaces"]}
        assert {public, own} <= listed and foreign not in listed
    assert member.http.post(NS, json={"namespace": _name()}).status_code == 403
    assert member.http.delete(f"{NS}/{own}").status_code == 403
    assert member.http.put(f"{NS}/{public}", json={"namespace": public}).status_code == 403
    assert member.http.post(f"{NS}/{public}/tags/x").status_code == 403
    assert member.http.post(f"{NS}/{foreign}/tags/x").status_code == 404
    assert member.http.post(f"{NS}/{own}/resource_types",
                            json={"name": "OS::Glance::Image"}).status_code == 403
    nobody = Caller(member.base_url, member.project_id, ())
    assert nobody.http.get(NS).status_code == 403
    assert nobody.http.get(f"{NS}/{public}").status_code == 404
    assert anonymous.get(NS).status_code == 401


def test_list_filters_sorting_and_pages(admin: Caller) -> None:
    tag = uuid.uuid4().hex[:8]
    resource_type = f"Test::Type::{tag}"
    names = [f"Page::{tag}::{i}" for i in range(5)]
    for index, name in enumerate(names):
        _create(admin, namespace=name, visibility="public" if index % 2 else "private",
                resource_type_associations=[{"name": resource_type}])
    params = {"resource_types": resource_type, "sort_key": "namespace", "sort_dir": "asc"}
    listed = admin.http.get(NS, params=params).json()
    assert [n["namespace"] for n in listed["namespaces"]] == names
    assert listed["schema"] == "/v2/schemas/metadefs/namespaces"
    assert listed["first"].startswith(NS + "?")
    assert listed["namespaces"][0]["resource_type_associations"][0]["name"] == resource_type
    public = admin.http.get(NS, params={**params, "visibility": "public"}).json()
    assert [n["namespace"] for n in public["namespaces"]] == names[1::2]
    seen: list[str] = []
    page = admin.http.get(NS, params={**params, "limit": 2}).json()
    while True:
        seen += [n["namespace"] for n in page["namespaces"]]
        if "next" not in page:
            break
        page = admin.http.get(page["next"]).json()
    assert seen == names
    descending = admin.http.get(NS, params={**params, "sort_dir": "desc"}).json()
    assert [n["namespace"] for n in descending["namespaces"]] == names[::-1]


def test_list_bad_parameters_are_400(admin: Caller) -> None:
    for params in [{"limit": "abc"}, {"limit": "-1"}, {"sort_dir": "up"},
                   {"sort_key": "nonsense"}, {"visibility": "shared"}]:
        response = admin.http.get(NS, params=params)
        assert response.status_code == 400, params
    assert admin.http.get(NS, params={"marker": "No::Such::Namespace"}).status_code == 404


def test_resource_type_associations(admin: Caller) -> None:
    name = _create(admin)["namespace"]
    base = f"{NS}/{name}/resource_types"
    new_type = f"Test::Auto::{uuid.uuid4().hex[:8]}"
    response = admin.http.post(base, json={"name": new_type, "prefix": "auto_",
                                           "properties_target": "image"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == new_type and created["prefix"] == "auto_"
    assert created["properties_target"] == "image" and "created_at" in created
    assert admin.http.post(base, json={"name": new_type}).status_code == 409
    assert admin.http.post(base, json={"prefix": "x"}).status_code == 400
    listed = admin.http.get(base).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == [new_type]
    types = admin.http.get("/v2/metadefs/resource_types").json()["resource_types"]
    assert new_type in {t["name"] for t in types}
    assert admin.http.delete(f"{base}/{new_type}").status_code == 204
    assert admin.http.delete(f"{base}/{new_type}").status_code == 404
    assert admin.http.get(base).json()["resource_type_associations"] == []


def test_schema_documents(anonymous: httpx.Client, member: Caller) -> None:
    expected = {
        "namespace": "namespace", "namespaces": "namespaces", "object": "object",
        "objects": "objects", "property": "property", "properties": "properties",
        "tag": "tag", "tags": "tags", "resource_type": "resource_type_association",
        "resource_types": "resource_type_associations",
    }
    for path, name in expected.items():
        response = member.http.get(f"/v2/schemas/metadefs/{path}")
        assert response.status_code == 200, path
        assert response.json()["name"] == name
    namespace = member.http.get("/v2/schemas/metadefs/namespace").json()
    assert namespace["required"] == ["namespace"]
    assert namespace["additionalProperties"] is False
    assert "property" in namespace["definitions"]
    properties = member.http.get("/v2/schemas/metadefs/properties").json()
    assert properties["properties"]["properties"]["type"] == "object"
    assert member.http.get("/v2/schemas/metadefs/nothing").status_code == 404
