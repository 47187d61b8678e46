"""Objects, properties and tags of a metadef namespace over real HTTP."""

from __future__ import annotations

import uuid

from tests.conftest import Caller

NS = "/v2/metadefs/namespaces"


def _namespace(admin: Caller, **body: object) -> str:
    name = f"Test::Contents::{uuid.uuid4().hex[:12]}"
    response = admin.http.post(NS, json={"namespace": name, **body})
    assert response.status_code == 201, response.text
    return f"{NS}/{name}"


def test_objects_crud(admin: Caller, reader: Caller) -> None:
    base = _namespace(admin, visibility="public")
    body = {"name": "CPU Limits", "description": "Limits", "required": ["shares"],
            "properties": {"shares": {"title": "Shares", "type": "integer", "minimum": 0}}}
    response = admin.http.post(f"{base}/objects", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["self"] == f"{base}/objects/CPU Limits"
    assert created["schema"] == "/v2/schemas/metadefs/object"
    assert created["required"] == ["shares"] and created["properties"] == body["properties"]
    assert admin.http.post(f"{base}/objects", json=body).status_code == 409
    assert reader.http.get(f"{base}/objects/CPU Limits").json()["description"] == "Limits"
    listed = reader.http.get(f"{base}/objects").json()
    assert [o["name"] for o in listed["objects"]] == ["CPU Limits"]
    assert listed["schema"] == "v2/schemas/metadefs/objects"
    response = admin.http.put(f"{base}/objects/CPU Limits", json={"name": "Renamed"})
    assert response.status_code == 200, response.text
    assert response.json()["required"] == [] and response.json()["properties"] == {}
    assert admin.http.get(f"{base}/objects/CPU Limits").status_code == 404
    assert reader.http.put(f"{base}/objects/Renamed", json={"name": "x"}).status_code == 403
    for bad in ({"description": "no name"}, {"name": "o", "required": "x"},
                {"name": "o", "properties": {"p": {"title": "P"}}}):
        assert admin.http.post(f"{base}/objects", json=bad).status_code == 400, bad
    assert admin.http.post(f"{base}/objects", json={"name": "o", "self": "/x"}).status_code == 403
    assert admin.http.delete(f"{base}/objects/Renamed").status_code == 204
    assert admin.http.delete(f"{base}/objects/Renamed").status_code == 404
    admin.http.post(f"{base}/objects", json={"name": "a"})
    assert admin.http.delete(f"{base}/objects").status_code == 204
    assert admin.http.get(f"{base}/objects").json()["objects"] == []


def test_properties_crud_and_prefix(admin: Caller) -> None:
    base = _namespace(admin, resource_type_associations=[
        {"name": "OS::Glance::Image", "prefix": "hw_"}])
    definition = {"name": "watchdog", "title": "Watchdog", "type": "string",
                  "enum": ["reset", "pause"], "default": "reset", "readonly": False,
                  "operators": ["<or>"], "description": "What the watchdog does"}
    response = admin.http.post(f"{base}/properties", json=definition)
    assert response.status_code == 201, response.text
    assert response.json() == definition
    assert admin.http.post(f"{base}/properties", json=definition).status_code == 409
    assert admin.http.get(f"{base}/properties/watchdog").json() == definition
    prefixed = admin.http.get(f"{base}/properties/hw_watchdog",
                              params={"resource_type": "OS::Glance::Image"})
    assert prefixed.status_code == 200 and prefixed.json()["name"] == "hw_watchdog"
    assert admin.http.get(f"{base}/properties/watchdog",
                          params={"resource_type": "OS::Glance::Image"}).status_code == 404
    listed = admin.http.get(f"{base}/properties").json()["properties"]
    assert listed == {"watchdog": {k: v for k, v in definition.items() if k != "name"}}
    array = {"name": "features", "title": "Features", "type": "array",
             "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": True,
             "minItems": 1, "maxItems": 2}
    assert admin.http.post(f"{base}/properties", json=array).json() == array
    numeric = {"name": "cores", "title": "Cores", "type": "integer", "minimum": 1,
               "maximum": 64}
    assert admin.http.post(f"{base}/properties", json=numeric).status_code == 201
    renamed = {**numeric, "name": "vcpus", "maximum": 128}
    response = admin.http.put(f"{base}/properties/cores", json=renamed)
    assert response.status_code == 200 and response.json() == renamed
    assert admin.http.get(f"{base}/properties/cores").status_code == 404
    conflict = admin.http.put(f"{base}/properties/vcpus", json={**renamed, "name": "features"})
    assert conflict.status_code == 409
    for bad in ({"title": "t", "type": "string"}, {"name": "x", "type": "string"},
                {"name": "x", "title": "t", "type": "text"},
                {"name": "x", "title": "t", "type": "string", "pattern": "("},
                {"name": "x", "title": "t", "type": "string", "minLength": -1},
                {"name": "x", "title": "t", "type": "string", "bogus": 1}):
        assert admin.http.post(f"{base}/properties", json=bad).status_code == 400, bad
    assert admin.http.delete(f"{base}/properties/vcpus").status_code == 204
    assert admin.http.delete(f"{base}/properties").status_code == 204
    assert admin.http.get(f"{base}/properties").json() == {"properties": {}}


def test_tags_single_bulk_append_and_conflicts(admin: Caller) -> None:
    base = _namespace(admin)
    response = admin.http.post(f"{base}/tags/first")
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "first" and "created_at" in response.json()
    assert admin.http.post(f"{base}/tags/first").status_code == 409
    response = admin.http.post(f"{base}/tags", json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert response.status_code == 201
    assert response.json() == {"tags": [{"name": "a"}, {"name": "b"}]}
    names = {t["name"] for t in admin.http.get(f"{base}/tags").json()["tags"]}
    assert names == {"a", "b"}  # replaced
    response = admin.http.post(f"{base}/tags", json={"tags": [{"name": "c"}]},
                               headers={"X-Openstack-Append": "True"})
    assert response.status_code == 201
    names = {t["name"] for t in admin.http.get(f"{base}/tags").json()["tags"]}
    assert names == {"a", "b", "c"}
    duplicate = admin.http.post(f"{base}/tags", json={"tags": [{"name": "d"}, {"name": "d"}]})
    assert duplicate.status_code == 409
    existing = admin.http.post(f"{base}/tags", json={"tags": [{"name": "a"}]},
                               headers={"X-Openstack-Append": "true"})
    assert existing.status_code == 409
    assert {t["name"] for t in admin.http.get(f"{base}/tags").json()["tags"]} == {"a", "b", "c"}
    assert admin.http.post(f"{base}/tags", json={"tags": [{"nom": "x"}]}).status_code == 400
    assert admin.http.post(f"{base}/tags/{'t' * 81}").status_code == 400
    response = admin.http.put(f"{base}/tags/a", json={"name": "z"})
    assert response.status_code == 200 and response.json()["name"] == "z"
    assert admin.http.put(f"{base}/tags/z", json={"name": "b"}).status_code == 409
    assert admin.http.get(f"{base}/tags/z").json()["name"] == "z"
    assert admin.http.get(f"{base}/tags/a").status_code == 404
    assert admin.http.delete(f"{base}/tags/z").status_code == 204
    assert admin.http.delete(f"{base}/tags/z").status_code == 404
    assert admin.http.delete(f"{base}/tags").status_code == 204
    assert admin.http.get(f"{base}/tags").json() == {"tags": []}


def test_tags_list_sort_limit_marker(admin: Caller) -> None:
    base = _namespace(admin)
    for name in ("b", "a", "d", "c"):
        assert admin.http.post(f"{base}/tags/{name}").status_code == 201

    def names(**params: object) -> list[str]:
        response = admin.http.get(f"{base}/tags", params=params)
        assert response.status_code == 200, response.text
        return [t["name"] for t in response.json()["tags"]]

    assert names() == ["c", "d", "a", "b"]  # newest first
    assert names(sort_key="name", sort_dir="asc") == ["a", "b", "c", "d"]
    assert names(sort_key="name", sort_dir="asc", limit=2) == ["a", "b"]
    assert names(sort_key="name", sort_dir="asc", limit=2, marker="b") == ["c", "d"]
    for bad in ({"limit": "x"}, {"sort_dir": "sideways"}, {"sort_key": "color"}):
        assert admin.http.get(f"{base}/tags", params=bad).status_code == 400
    assert admin.http.get(f"{base}/tags", params={"marker": "zz"}).status_code == 404


def test_contents_of_invisible_namespace_are_404(admin: Caller, member: Caller) -> None:
    base = _namespace(admin, objects=[{"name": "o"}], tags=[{"name": "t"}],
                      properties={"p": {"title": "P", "type": "string"}})
    for path in ("/objects", "/objects/o", "/properties", "/properties/p", "/tags", "/tags/t",
                 "/resource_types"):
        assert member.http.get(base + path).status_code == 404, path
