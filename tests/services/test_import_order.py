"""POST /import checks the image before any network work: a web-download
request on an image that does not exist, that the caller cannot see or may
not change, or that is not queued, is refused without resolving the URI's
host (no DNS probe for anyone). The services run in-process on a real
database of each backend, with a resolver that records every look-up (the
ImportServices' injectable `resolve`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from glint.db import repositories as repo
from glint.domain.context import RequestContext
from glint.domain.errors import Conflict, Forbidden, NotFound
from glint.domain.image import ImageStatus
from glint.domain.import_filter import UriRefused
from glint.domain.task import Task
from glint.services.clock import now
from glint.services.container import Services
from tests.conftest import BACKENDS
from tests.servers import database
from tests.services.conftest import built_services, new_image

PROBE = "http://dns-probe.example.test/disk.raw"
# A public address (the import filter refuses private ones); nothing connects to it.
PUBLIC_ADDRESS = "93.184.215.14"


@dataclass
class RecordingResolver:
    """Answers a public address, or fails, and remembers every question."""

    fail: bool = False
    asked: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        if self.fail:
            raise OSError("Name or service not known")
        return [PUBLIC_ADDRESS]


@pytest.fixture(params=BACKENDS)
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    with database(request.param, tmp_path) as url, built_services(url, tmp_path) as built:
        yield built


def _caller(project: str | None = None) -> RequestContext:
    return RequestContext(request_id="req-test", user_id=uuid.uuid4().hex,
                          project_id=project or uuid.uuid4().hex,
                          roles=frozenset({"member", "reader"}))


def _image(services: Services, owner: RequestContext, status: ImageStatus = ImageStatus.QUEUED,
           visibility: str = "private") -> str:
    image = new_image(services, owner, visibility=visibility)
    if status != ImageStatus.QUEUED:
        with services.db.writing() as session:
            assert repo.change_status(session, image.id, ImageStatus.QUEUED, status, now())
    return image.id


def _web_download(services: Services, ctx: RequestContext, image_id: str,
                  resolver: RecordingResolver) -> Task | None:
    services.imports.resolve = resolver
    request = services.imports.parse({"method": {"name": "web-download", "uri": PROBE},
                                      "all_stores": True})
    return services.imports.start_import(ctx, image_id, request)


def test_a_missing_image_is_404_before_any_lookup(services: Services) -> None:
    resolver = RecordingResolver()
    with pytest.raises(NotFound):
        _web_download(services, _caller(), str(uuid.uuid4()), resolver)
    assert resolver.asked == []


def test_an_invisible_image_is_404_before_any_lookup(services: Services) -> None:
    image_id = _image(services, _caller())
    resolver = RecordingResolver()
    with pytest.raises(NotFound):
        _web_download(services, _caller(), image_id, resolver)
    assert resolver.asked == []


def test_another_projects_shared_image_is_403_before_any_lookup(services: Services) -> None:
    image_id = _image(services, _caller(), visibility="community")
    resolver = RecordingResolver()
    with pytest.raises(Forbidden):
        _web_download(services, _caller(), image_id, resolver)
    assert resolver.asked == []


@pytest.mark.parametrize("status", [ImageStatus.ACTIVE, ImageStatus.UPLOADING,
                                    ImageStatus.IMPORTING, ImageStatus.SAVING,
                                    ImageStatus.DEACTIVATED, ImageStatus.KILLED])
def test_an_image_not_queued_is_409_before_any_lookup(services: Services,
                                                     status: ImageStatus) -> None:
    owner = _caller()
    image_id = _image(services, owner, status)
    resolver = RecordingResolver()
    with pytest.raises(Conflict):
        _web_download(services, owner, image_id, resolver)
    assert resolver.asked == []


def test_the_host_is_resolved_once_the_image_is_importable(services: Services) -> None:
    owner = _caller()
    image_id = _image(services, owner)
    refusing = RecordingResolver(fail=True)
    with pytest.raises(UriRefused, match="cannot be resolved"):
        _web_download(services, owner, image_id, refusing)
    assert refusing.asked == [("dns-probe.example.test", 80)]
    assert services.images.show(owner, image_id).status == ImageStatus.QUEUED
    resolver = RecordingResolver()
    task = _web_download(services, owner, image_id, resolver)
    assert task is not None and task.image_id == image_id
    assert resolver.asked == [("dns-probe.example.test", 80)]
    # A single-store site ignores all_stores: the one store takes the data.
    assert task.input["backend"] == ["file"]
    assert services.images.show(owner, image_id).status == ImageStatus.IMPORTING
