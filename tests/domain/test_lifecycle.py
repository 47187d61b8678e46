from __future__ import annotations

from datetime import datetime

import pytest

from glint.domain.errors import InvalidInput, InvalidTransition
from glint.domain.image import Image, ImageStatus, Location, Visibility
from glint.domain.lifecycle import ALLOWED, begin_data, deleted_status, is_listed, transition

S = ImageStatus


def _image(**values: object) -> Image:
    moment = datetime(2026, 1, 1)
    return Image(id="i", status=S.QUEUED, visibility=Visibility.SHARED, created_at=moment,
                 updated_at=moment, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("current,target", [
    (S.QUEUED, S.SAVING), (S.SAVING, S.ACTIVE), (S.SAVING, S.QUEUED), (S.ACTIVE, S.DEACTIVATED),
    (S.DEACTIVATED, S.ACTIVE), (S.UPLOADING, S.IMPORTING), (S.IMPORTING, S.QUEUED),
    (S.PENDING_DELETE, S.ACTIVE), (S.KILLED, S.DELETED),
])
def test_allowed_transitions(current: ImageStatus, target: ImageStatus) -> None:
    assert transition(current, target) == target


@pytest.mark.parametrize("current,target", [
    (S.ACTIVE, S.SAVING), (S.ACTIVE, S.QUEUED), (S.DELETED, S.ACTIVE), (S.KILLED, S.ACTIVE),
    (S.DEACTIVATED, S.SAVING), (S.QUEUED, S.DEACTIVATED),
])
def test_forbidden_transitions(current: ImageStatus, target: ImageStatus) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)


def test_every_status_has_a_row() -> None:
    assert set(ALLOWED) == set(ImageStatus)


def test_data_needs_both_formats() -> None:
    with pytest.raises(InvalidInput, match="disk_format, container_format"):
        begin_data(_image(disk_format="raw"), S.SAVING)
    assert begin_data(_image(disk_format="raw", container_format="bare"), S.SAVING) == S.SAVING


def test_killed_and_deleted_are_not_listed() -> None:
    assert not is_listed(S.KILLED) and not is_listed(S.DELETED) and is_listed(S.ACTIVE)


DATA = [Location(url="file:///images/i", store="file")]


@pytest.mark.parametrize("status,locations,delayed,expected", [
    (S.ACTIVE, DATA, True, S.PENDING_DELETE),
    (S.ACTIVE, DATA, False, S.DELETED),
    (S.ACTIVE, [], True, S.DELETED),
    (S.QUEUED, [], True, S.DELETED),
    (S.DEACTIVATED, DATA, False, S.DELETED),
])
def test_deleted_status(status: ImageStatus, locations: list[Location], delayed: bool,
                        expected: ImageStatus) -> None:
    image = _image(locations=list(locations))
    image.status = status
    assert deleted_status(image, delayed=delayed) == expected


def test_deactivated_image_with_data_cannot_wait_for_the_scrubber() -> None:
    # Glance's state machine has no deactivated -> pending_delete (400 on DELETE).
    with pytest.raises(InvalidInput, match="deactivated to pending_delete"):
        image = _image(locations=list(DATA))
        image.status = S.DEACTIVATED
        deleted_status(image, delayed=True)
