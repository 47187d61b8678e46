"""Location changes by JSON patch: the pure rules."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from glint.domain.errors import Conflict, Forbidden, InvalidInput, QuotaExceeded
from glint.domain.image import Image, ImageStatus, Location, Visibility
from glint.domain.image_rules import PatchOp
from glint.domain.location_rules import (
    LocationChange,
    apply_plan,
    plan_changes,
    position_of,
    validation_values,
)

WHEN = datetime(2026, 1, 1)


def _image(status: ImageStatus = ImageStatus.QUEUED, *urls: str) -> Image:
    return Image(id="i", status=status, visibility=Visibility.PRIVATE, created_at=WHEN,
                 updated_at=WHEN, locations=[Location(url, "web") for url in urls])


def _add(url: str, position: str = "-", **value: object) -> LocationChange:
    return LocationChange(PatchOp.ADD, position, {"url": url, "metadata": {}, **value})


@pytest.mark.parametrize("raw,length,for_add,expected", [
    ("-", 2, True, 2), ("0", 2, True, 0), ("9", 2, True, 2), ("x", 2, True, None),
    ("-", 2, False, 1), ("1", 2, False, 1), ("2", 2, False, None), ("-1", 2, False, None),
])
def test_positions(raw: str, length: int, for_add: bool, expected: int | None) -> None:
    assert position_of(raw, length, for_add=for_add) == expected


def test_add_to_a_queued_image_activates_it_with_its_validation_data() -> None:
    digest = hashlib.sha512(b"x").hexdigest()
    plan = plan_changes(
        _image(), [_add("http://a/1", validation_data={"os_hash_algo": "sha512",
                                                       "os_hash_value": digest})],
        hashing_algorithm="sha512", multistore=False, shown=True)
    assert plan.activate and plan.validation == {"os_hash_algo": "sha512", "os_hash_value": digest}
    assert [location.url for location in plan.unchecked] == ["http://a/1"]


def test_add_then_remove_in_one_patch_checks_nothing_removed() -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1")
    plan = plan_changes(image, [_add("http://a/2"), LocationChange(PatchOp.REMOVE, "1")],
                        hashing_algorithm="sha512", multistore=False, shown=True)
    assert [location.url for location in plan.after] == ["http://a/1"]
    assert plan.unchecked == [] and plan.removed == []


def test_location_quota() -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1", "http://a/2")
    with pytest.raises(QuotaExceeded, match="Attempted: 3, Maximum: 2"):
        plan_changes(image, [_add("http://a/3")], hashing_algorithm="sha512",
                     multistore=False, shown=True, quota=2)
    swapped = plan_changes(image, [_add("http://a/3"), LocationChange(PatchOp.REMOVE, "0")],
                           hashing_algorithm="sha512", multistore=False, shown=True, quota=2)
    assert [location.url for location in swapped.after] == ["http://a/2", "http://a/3"]


def test_refusals() -> None:
    with pytest.raises(Forbidden, match="invisible"):
        plan_changes(_image(), [_add("http://a/1")], hashing_algorithm="sha512",
                     multistore=False, shown=False)
    with pytest.raises(Conflict, match="status is deactivated"):
        plan_changes(_image(ImageStatus.DEACTIVATED, "http://a/1"), [_add("http://a/2")],
                     hashing_algorithm="sha512", multistore=False, shown=True)
    with pytest.raises(Forbidden, match="Cannot remove last location"):
        plan_changes(_image(ImageStatus.ACTIVE, "http://a/1"),
                     [LocationChange(PatchOp.REMOVE, "0")], hashing_algorithm="sha512",
                     multistore=False, shown=True)
    with pytest.raises(InvalidInput, match="already exists"):
        plan_changes(_image(ImageStatus.ACTIVE, "http://a/1"), [_add("http://a/1")],
                     hashing_algorithm="sha512", multistore=False, shown=True)
    with pytest.raises(InvalidInput, match="Original locations is not empty"):
        plan_changes(_image(ImageStatus.ACTIVE, "http://a/1"),
                     [LocationChange(PatchOp.REPLACE, None, [{"url": "http://b", "metadata": {}}])],
                     hashing_algorithm="sha512", multistore=False, shown=True)


def test_validation_values_follow_glance() -> None:
    image = _image()
    digest = hashlib.sha512(b"x").hexdigest()
    good = {"os_hash_algo": "sha512", "os_hash_value": digest}
    with pytest.raises(Conflict, match="Conflicting values"):
        validation_values(image, [{"validation_data": good}, {"validation_data": {
            "os_hash_algo": "sha512", "os_hash_value": "0" * 128}}], image.status, "sha512")
    with pytest.raises(Conflict, match="not the correct size"):
        validation_values(image, [{"validation_data": {**good, "checksum": "ab"}}],
                          image.status, "sha512")
    image.os_hash_algo, image.os_hash_value = "sha512", digest
    assert validation_values(image, [{"validation_data": good}], ImageStatus.ACTIVE,
                             "sha512") == {}


def test_apply_plan_refuses_locations_changed_meanwhile() -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1")
    plan = plan_changes(image, [_add("http://a/2")], hashing_algorithm="sha512",
                        multistore=False, shown=True)
    image.locations = []
    with pytest.raises(Conflict):
        apply_plan(image, plan)
