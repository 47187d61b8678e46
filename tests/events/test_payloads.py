"""Glance's notification payloads, built from domain objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from glint.domain.errors import InvalidInput, NotFound, StorageFull
from glint.domain.image import Image, ImageStatus, Location, Member, MemberStatus, Visibility
from glint.domain.metadefs import MetadefObject, PropertyDefinition
from glint.domain.task import Task, TaskStatus, TaskType
from glint.events import payloads

MOMENT = datetime(2024, 5, 1, 12, 30, 45, 123456)

IMAGE_FIELDS = {
    "id", "name", "status", "created_at", "updated_at", "min_disk", "min_ram", "protected",
    "checksum", "owner", "disk_format", "container_format", "size", "virtual_size",
    "is_public", "visibility", "properties", "tags", "deleted", "deleted_at",
}


def _image(**fields: object) -> Image:
    values: dict[str, object] = {"visibility": Visibility.PUBLIC, **fields}
    return Image(id="i1", status=ImageStatus.ACTIVE, created_at=MOMENT, updated_at=MOMENT,
                 **values)  # type: ignore[arg-type]


def test_times_are_glance_isotime() -> None:
    assert payloads.isotime(MOMENT) == "2024-05-01T12:30:45Z"
    aware = datetime(2024, 5, 1, 14, 30, 45, tzinfo=timezone(timedelta(hours=2)))
    assert payloads.isotime(aware) == "2024-05-01T12:30:45Z"
    assert payloads.isotime(None) is None


def test_an_image_payload_has_glance_fields_and_no_locations() -> None:
    image = _image(name="cirros", size=10, tags={"b", "a"}, properties={"os_distro": "cirros"},
                   locations=[Location(url="s3://key:secret@host/bucket/i1", store="s3")])
    payload = payloads.image(image)
    assert set(payload) == IMAGE_FIELDS
    assert payload["is_public"] is True and payload["visibility"] == "public"
    assert payload["status"] == "active" and payload["tags"] == ["a", "b"]
    assert payload["properties"] == {"os_distro": "cirros"}
    assert payload["deleted"] is False and payload["deleted_at"] is None
    assert "secret" not in repr(payload)
    shared = payloads.image(_image(visibility=Visibility.SHARED))
    assert shared["is_public"] is False and shared["visibility"] == "shared"


def test_upload_payloads_list_the_import_stores() -> None:
    image = _image(properties={"os_glance_importing_to_stores": "a,b"})
    payload = payloads.image_with_imports(image)
    assert payload["os_glance_importing_to_stores"] == ["a", "b"]
    assert payload["os_glance_failed_import"] == [] and "backend" not in payload
    assert payloads.image_with_imports(image, "fast")["backend"] == "fast"


def test_a_deletion_is_marked_with_its_time() -> None:
    payload = payloads.deleted(payloads.image(_image()), datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert payload["deleted"] is True and payload["deleted_at"] == "2025-01-02T03:04:05Z"


def test_a_failed_upload_is_told_in_glance_words() -> None:
    assert payloads.upload_failure("i1", StorageFull("no room")) == (
        "Image storage media is full: no room")
    assert payloads.upload_failure("i1", InvalidInput("bad size")) == (
        "Failed to upload image data for image i1 due to HTTP error: bad size")
    assert payloads.upload_failure("i1", NotFound("gone")).startswith(
        "Image i1 could not be found after upload.")
    assert payloads.upload_failure("i1", RuntimeError("boom")) == (
        "Failed to upload image data for image i1 due to internal error: boom")


def test_member_and_task_payloads() -> None:
    member = payloads.member(Member("i1", "p2", MemberStatus.ACCEPTED, MOMENT, MOMENT))
    assert member == {"image_id": "i1", "member_id": "p2", "status": "accepted",
                      "created_at": "2024-05-01T12:30:45Z", "updated_at": "2024-05-01T12:30:45Z",
                      "deleted": False, "deleted_at": None}
    task = payloads.task(Task(id="t1", type=TaskType.API_IMAGE_IMPORT, status=TaskStatus.SUCCESS,
                              owner="p1", created_at=MOMENT, updated_at=MOMENT,
                              input={"uri": "http://user:pw@host"}, result={"image_id": "i1"}))
    # Input and result are never sent (they may hold credentials), as in Glance.
    assert task["result"] is None and task["message"] is None and "pw" not in repr(task)
    assert (task["type"], task["status"], task["expires_at"]) == (
        "api_image_import", "success", None)


def test_metadef_payloads_report_old_names_and_schema_fields() -> None:
    prop = PropertyDefinition("cpu", {"type": "integer", "minimum": 1}, MOMENT, MOMENT)
    payload = payloads.metadef_property("ns", prop, old_name="cores")
    assert (payload["name"], payload["name_old"], payload["type"], payload["minimum"]) == (
        "cpu", "cores", "integer", 1)
    assert payload["maximum"] is None
    obj = MetadefObject("o", MOMENT, MOMENT, properties={"p": {"type": "string"}})
    object_payload = payloads.metadef_object("ns", obj)
    assert object_payload["name_old"] == "o"
    assert object_payload["properties"][0]["name"] == "p"
    assert object_payload["properties"][0]["type"] == "string"
    assert object_payload["properties"][0]["minimum"] is None
