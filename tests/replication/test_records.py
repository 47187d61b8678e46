"""The pure rules of replication: endpoints, field differences, patches, data checks."""

from __future__ import annotations

import pytest

from glint.client.endpoints import EndpointError, endpoint_url
from glint.client.images import Member
from glint.replication import records

SKIPPED = records.dont_replicate(records.DEFAULT_DONT_REPLICATE)
SOURCE = {"id": "i1", "name": "a", "status": "active", "visibility": "shared", "protected": True,
          "tags": ["x", "y"], "size": 3, "checksum": "c", "os_hash_algo": "sha512",
          "os_hash_value": "h", "created_at": "t1", "updated_at": "t2", "self": "/v2/images/i1",
          "locations": [], "os_glance_import_task": "t", "hw_disk_bus": "scsi", "owner": None}


@pytest.mark.parametrize(("text", "url"), [
    ("127.0.0.1:9292", "http://127.0.0.1:9292"),
    ("glance.example.org:80", "http://glance.example.org:80"),
    ("localhost:1", "http://localhost:1"),
    ("[fe80::a:b:c]:9876", "http://[fe80::a:b:c]:9876"),
    ("https://images.example.org/image/", "https://images.example.org/image"),
])
def test_host_port_forms(text: str, url: str) -> None:
    assert endpoint_url(text) == url


@pytest.mark.parametrize("text", ["127.0.0.1", "host:0", "host:65536", "host:x",
                                  "fe80::a:b:c:9876", "bad_host!:80", ":80"])
def test_invalid_host_port_forms(text: str) -> None:
    with pytest.raises(EndpointError):
        endpoint_url(text)


def test_identical_records_have_no_differences_whatever_the_tag_order() -> None:
    target = {**SOURCE, "tags": ["y", "x"], "updated_at": "later", "self": "elsewhere",
              "stores": "file", "os_glance_import_task": "other"}
    assert records.differences(SOURCE, target, SKIPPED) == []


def test_differences_in_both_directions() -> None:
    target = {**SOURCE, "name": "b", "extra": "only-here"}
    del target["hw_disk_bus"]
    found = {d.key: (d.source, d.target) for d in records.differences(SOURCE, target, SKIPPED)}
    assert found == {"name": ("a", "b"), "hw_disk_bus": ("scsi", records.UNDEFINED),
                     "extra": (records.UNDEFINED, "only-here")}
    assert records.update_operations(SOURCE, target, SKIPPED) == [
        {"op": "replace", "path": "/name", "value": "a"},
        {"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
        {"op": "remove", "path": "/extra"},
    ]


def test_dontreplicate_names_are_neither_compared_nor_written() -> None:
    target = {**SOURCE, "name": "b"}
    skipped = records.dont_replicate("name created_at")
    assert records.differences(SOURCE, target, skipped) == []
    assert "name" not in records.creation_body(SOURCE, skipped)


def test_computed_fields_are_compared_but_never_written() -> None:
    target = {**SOURCE, "checksum": "other"}
    assert [d.key for d in records.differences(SOURCE, target, SKIPPED)] == ["checksum"]
    assert records.update_operations(SOURCE, target, SKIPPED) == []


def test_a_value_the_source_never_computed_is_no_difference() -> None:
    old = {**SOURCE, "virtual_size": None, "os_hash_algo": None, "os_hash_value": None}
    target = {**SOURCE, "virtual_size": 3}
    assert records.differences(old, target, SKIPPED) == []


def test_creation_body_keeps_the_id_and_leaves_protection_for_later() -> None:
    body = records.creation_body(SOURCE, SKIPPED)
    assert body == {"id": "i1", "name": "a", "visibility": "shared", "tags": ["x", "y"],
                    "hw_disk_bus": "scsi"}


def test_data_mismatches() -> None:
    assert records.data_mismatches(SOURCE, dict(SOURCE)) == []
    bad = records.data_mismatches(SOURCE, {**SOURCE, "os_hash_value": "z", "size": 4})
    assert [m.key for m in bad] == ["size", "os_hash_value"]
    other_algorithm = {**SOURCE, "os_hash_algo": "sha256", "os_hash_value": "z"}
    assert records.data_mismatches(SOURCE, other_algorithm) == []
    assert records.data_mismatches({**SOURCE, "checksum": None}, {**SOURCE, "checksum": "q"}) == []


def test_member_differences() -> None:
    same = [Member("p1", "accepted"), Member("p2", "pending")]
    assert records.member_differences(same, list(reversed(same))) == []
    assert records.member_differences(same, same[:1]) != []
