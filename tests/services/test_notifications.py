"""The notifications the services send, on every database, read back from the
machine's RabbitMQ by a real consumer: type, payload and order for each
action, and nothing for a change that was rolled back."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from glint.db import task_repositories as tasks_repo
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from glint.domain.image_rules import Change, PatchOp
from glint.domain.new_image import NewImage
from glint.domain.task import Task, TaskStatus, TaskType
from glint.services.clock import now
from glint.services.container import Services
from glint.settings import (
    DatabaseSettings,
    NotificationSettings,
    StoreSettings,
    embedded_settings,
)
from tests.conftest import BACKENDS
from tests.notifications import RABBIT_URL, Consumer, consuming
from tests.servers import database
from tests.services.conftest import built_services, caller, new_image

DATA = b"glint notifications " * 5000


@pytest.fixture(scope="module")
def consumer() -> Iterator[Consumer]:
    with consuming() as listening:
        yield listening


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         consumer: Consumer) -> Iterator[Services]:
    """The services on a fresh database of each backend, notifying `consumer`,
    with two filesystem stores (`one`, the default, and `two`)."""
    folder = tmp_path_factory.mktemp(f"notify-{request.param}")
    stores = StoreSettings(
        enabled_backends=(("one", "file"), ("two", "file")), default_backend="one",
        sections={name: {"filesystem_store_datadir": str(folder / name)} for name in ("one", "two")},
        filesystem_store_datadir=folder / "images")
    with database(request.param, folder) as url:
        settings = replace(
            embedded_settings(folder), database=DatabaseSettings(url=url), store=stores,
            notifications=NotificationSettings(drivers=("messagingv2",), topics=(consumer.topic,),
                                               transport_url=RABBIT_URL))
        with built_services(url, folder, settings) as built:
            built.events.start()
            try:
                yield built
            finally:
                built.events.stop()


@pytest.fixture(autouse=True)
def nothing_left(consumer: Consumer) -> Iterator[None]:
    """Each test reads every notification it caused, and no other comes."""
    yield
    consumer.nothing_more(0.5)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data[:1000]
    yield data[1000:]


def test_an_image_from_creation_to_deletion(site: Services, consumer: Consumer) -> None:
    owner, guest = caller(), caller()
    image = new_image(site, owner, name="cirros", visibility="shared", tags=["a"],
                      os_distro="cirros")
    created = consumer.take(1)[0]
    assert (created.event_type, created.publisher_id, created.priority) == (
        "image.create", "image.localhost", "info")
    assert created.payload["id"] == image.id and created.payload["status"] == "queued"
    assert created.payload["properties"] == {"os_distro": "cirros"}
    assert created.payload["tags"] == ["a"] and created.payload["visibility"] == "shared"
    assert created.payload["owner"] == owner.project_id and created.payload["is_public"] is False

    asyncio.run(site.data.upload(owner, image.id, _body(DATA), expected_size=None))
    upload = consumer.take(5)
    assert [r.event_type for r in upload] == [
        "image.update", "image.prepare", "image.upload", "image.activate", "image.update"]
    assert [r.payload["status"] for r in upload] == [
        "saving", "saving", "active", "active", "active"]
    assert upload[1].payload["os_glance_importing_to_stores"] == []
    assert upload[1].payload["backend"] == "one"  # a multi-store site names the store
    assert "backend" not in upload[2].payload
    assert upload[2].payload["size"] == len(DATA)
    assert upload[2].payload["checksum"] == hashlib.md5(DATA).hexdigest()
    assert "locations" not in upload[2].payload

    site.images.update(owner, image.id, [Change(PatchOp.REPLACE, "name", "renamed")])
    site.images.add_tag(owner, image.id, "b")
    site.images.remove_tag(owner, image.id, "a")
    admin = caller(None, "admin")
    site.images.deactivate(admin, image.id)
    site.images.reactivate(admin, image.id)
    updates = consumer.take(5)
    assert {r.event_type for r in updates} == {"image.update"}
    assert updates[0].payload["name"] == "renamed"
    assert updates[1].payload["tags"] == ["a", "b"] and updates[2].payload["tags"] == ["b"]
    assert [r.payload["status"] for r in updates[3:]] == ["deactivated", "active"]
    assert updates[4].payload["properties"] == {"os_distro": "cirros"}

    site.members.add(owner, image.id, guest.project_id)
    site.members.update(guest, image.id, guest.project_id, "accepted")
    site.members.remove(owner, image.id, guest.project_id)
    members = consumer.take(3)
    assert [r.event_type for r in members] == [
        "image.member.create", "image.member.update", "image.member.delete"]
    assert [r.payload["status"] for r in members] == ["pending", "accepted", "accepted"]
    assert {r.payload["member_id"] for r in members} == {guest.project_id}
    assert [r.payload["deleted"] for r in members] == [False, False, True]
    assert members[2].payload["deleted_at"] is not None

    site.images.delete(owner, image.id)
    deleted = consumer.take(1)[0]
    assert deleted.event_type == "image.delete"
    assert (deleted.payload["id"], deleted.payload["status"], deleted.payload["deleted"]) == (
        image.id, "deleted", True)
    assert deleted.payload["tags"] == ["b"] and deleted.payload["deleted_at"].endswith("Z")


def test_a_change_that_is_rolled_back_sends_nothing(site: Services, consumer: Consumer) -> None:
    owner = caller()
    image = new_image(site, owner, protected=True, visibility="private")
    assert consumer.types(1) == ["image.create"]
    # Refused inside the unit of work, after the image was read and changed.
    with pytest.raises(Forbidden):
        site.images.update(owner, image.id, [Change(PatchOp.REPLACE, "owner", "someone")])
    with pytest.raises(Forbidden):
        site.members.add(owner, image.id, "guest")  # a private image has no members
    with pytest.raises(Forbidden):
        site.images.delete(owner, image.id)
    with pytest.raises(NotFound):
        site.images.remove_tag(owner, image.id, "missing")
    # Refused by the database at the insert: the same id twice.
    duplicate = NewImage.from_body({"id": image.id, "disk_format": "raw",
                                    "container_format": "bare"}, owner.project_id)
    with pytest.raises(Conflict):
        site.images.create(owner, duplicate)
    # A failed upload sends Glance's error notification, and no activation.
    with pytest.raises(InvalidInput, match="image size header's 10 bytes"):
        asyncio.run(site.data.upload(owner, image.id, _body(DATA), expected_size=10))
    failed = consumer.take(3)
    assert [r.event_type for r in failed] == ["image.update", "image.prepare", "image.upload"]
    assert failed[2].priority == "error"
    assert failed[2].payload.startswith(
        f"Failed to upload image data for image {image.id} due to HTTP error: More data")


def test_an_import_reports_its_task(site: Services, consumer: Consumer) -> None:
    owner = caller()
    image = new_image(site, owner)
    assert consumer.types(1) == ["image.create"]

    async def stage_and_import() -> None:
        await site.imports.stage(owner, image.id, _body(DATA), expected_size=None)
        await _imported(site, owner, image.id, {"method": {"name": "glance-direct"}})

    asyncio.run(stage_and_import())
    staged = consumer.take(2)
    assert [r.event_type for r in staged] == ["image.update", "image.update"]
    assert [r.payload["status"] for r in staged] == ["uploading", "uploading"]
    assert [r.payload["size"] for r in staged] == [None, len(DATA)]
    received = consumer.take(8)
    assert [r.event_type for r in received] == [
        "image.update", "task.create", "task.processing", "task.run", "image.upload",
        "image.activate", "image.update", "task.success"]
    assert received[0].payload["status"] == "importing"
    tasks = [r.payload for r in received if r.event_type.startswith("task.")]
    assert [t["status"] for t in tasks] == ["pending", "processing", "processing", "success"]
    assert {t["type"] for t in tasks} == {"api_image_import"}
    assert {t["owner"] for t in tasks} == {owner.project_id}
    assert all(t["result"] is None and t["message"] is None for t in tasks)
    assert received[4].payload["status"] == "active" and received[4].payload["size"] == len(DATA)
    assert received[4].payload["os_glance_importing_to_stores"] == []


async def _imported(site: Services, ctx: RequestContext, image_id: str,
                    body: dict[str, object]) -> None:
    """Start an import and wait for its task to end."""
    task = site.imports.start_import(ctx, image_id, site.imports.parse(body))
    assert task is not None
    site.imports.launch(task.id)
    for _ in range(2400):
        with site.db.reading() as session:
            found = tasks_repo.get_task(session, task.id)
        assert found is not None
        if found.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not end")


def test_copies_between_stores(site: Services, consumer: Consumer) -> None:
    admin = caller(None, "admin")
    image = new_image(site, admin)
    asyncio.run(site.data.upload(admin, image.id, _body(DATA), expected_size=None))
    assert len(consumer.take(6)) == 6  # created and uploaded (see above)

    asyncio.run(_imported(site, admin, image.id,
                          {"method": {"name": "copy-image"}, "stores": ["two"]}))
    copied = consumer.take(5)
    assert [r.event_type for r in copied] == [
        "image.update", "task.create", "task.processing", "task.run", "task.success"]
    assert copied[0].payload["status"] == "active"
    assert copied[0].payload["properties"]["os_glance_importing_to_stores"] == "two"

    asyncio.run(site.placement.delete_from_store(admin, "two", image.id))
    dropped = consumer.take(1)[0]
    assert dropped.event_type == "image.update" and dropped.payload["id"] == image.id
    assert "locations" not in dropped.payload


@pytest.mark.parametrize("inner,moves", [
    (TaskStatus.SUCCESS, ["task.processing", "task.success"]),
    (TaskStatus.FAILURE, ["task.processing", "task.failure"]),
    (None, ["task.failure"]),
])
def test_a_legacy_import_task_reports_its_moves(site: Services, consumer: Consumer,
                                                inner: TaskStatus | None,
                                                moves: list[str]) -> None:
    """The legacy task moves with its image's import when tasks are read: each
    move is notified once, after it is committed."""
    admin = caller(None, "admin")
    image = new_image(site, admin)
    assert consumer.types(1) == ["image.create"]
    legacy = _written_task(site, admin.project_id, TaskType.IMPORT, TaskStatus.PENDING, image.id)
    if inner is not None:
        _written_task(site, admin.project_id, TaskType.API_IMAGE_IMPORT, inner, image.id)
    site.tasks.show_task(admin, legacy.id)
    site.tasks.show_task(admin, legacy.id)
    received = consumer.take(len(moves))
    assert [r.event_type for r in received] == moves
    assert {r.payload["id"] for r in received} == {legacy.id}
    assert [r.payload["status"] for r in received] == [m.split(".")[1] for m in moves]
    assert {r.payload["type"] for r in received} == {"import"}


def _written_task(site: Services, owner: str, task_type: TaskType, status: TaskStatus,
                  image_id: str) -> Task:
    """A task written straight to the database (no notification)."""
    when = now()
    task = Task(id=str(uuid.uuid4()), type=task_type, status=status, owner=owner,
                created_at=when, updated_at=when, image_id=image_id)
    with site.db.writing() as session:
        tasks_repo.insert_task(session, task)
    return task


def test_metadata_definitions(site: Services, consumer: Consumer) -> None:
    admin = caller(None, "admin")
    contents = site.metadefs.create_namespace(admin, {
        "namespace": "Notify", "display_name": "N", "visibility": "public",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "n_"}],
        "objects": [{"name": "obj", "properties": {"p": {"type": "string", "title": "P"}}}],
        "tags": [{"name": "t1"}],
        "properties": {"prop": {"type": "integer", "title": "Prop", "minimum": 1}},
    })
    assert contents.namespace.namespace == "Notify"
    created = consumer.take(5)
    assert [r.event_type for r in created] == [
        "metadef_namespace.create", "metadef_resource_type.create", "metadef_object.create",
        "metadef_tag.create", "metadef_property.create"]
    assert created[0].payload["namespace"] == "Notify"
    assert created[0].payload["visibility"] == "public"
    assert created[1].payload["prefix"] == "n_"
    assert created[2].payload["properties"][0]["title"] == "P"
    assert created[4].payload["minimum"] == 1 and created[4].payload["namespace"] == "Notify"

    site.metadef_contents.update_tag(admin, "Notify", "t1", {"name": "t2"})
    site.metadef_contents.create_tag(admin, "Notify", "t3")
    site.metadef_contents.delete_tag(admin, "Notify", "t3")
    site.metadef_contents.delete_all(admin, "Notify", "objects")
    site.metadefs.deassociate(admin, "Notify", "OS::Glance::Image")
    site.metadefs.update_namespace(admin, "Notify", {"namespace": "Renamed"})
    site.metadefs.delete_namespace(admin, "Renamed")
    changed = consumer.take(7)
    assert [r.event_type for r in changed] == [
        "metadef_tag.update", "metadef_tag.create", "metadef_tag.delete",
        "metadef_namespace.delete_objects", "metadef_resource_type.delete",
        "metadef_namespace.update", "metadef_namespace.delete"]
    assert (changed[0].payload["name"], changed[0].payload["name_old"]) == ("t2", "t1")
    assert changed[2].payload["deleted"] is True
    assert (changed[5].payload["namespace"], changed[5].payload["namespace_old"]) == (
        "Renamed", "Notify")
    assert changed[6].payload["deleted"] is True
