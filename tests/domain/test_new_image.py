from __future__ import annotations

from datetime import datetime

import pytest

from glint.domain.errors import InvalidInput
from glint.domain.image import ImageStatus, Visibility
from glint.domain.new_image import NewImage

MOMENT = datetime(2026, 1, 1)


def test_a_body_sorted_into_attributes_and_properties() -> None:
    request = NewImage.from_body({
        "id": "0b8e1a2c-1d1e-4c38-9d0b-2b8f0e1f3a4d", "name": "n", "disk_format": "raw",
        "min_ram": 512, "protected": True, "tags": ["a", "b"], "visibility": "community",
        "os_distro": "debian", "os_hash_algo": "md5", "os_hash_value": "x",
    }, "p1")
    assert request == NewImage(
        owner="p1", id="0b8e1a2c-1d1e-4c38-9d0b-2b8f0e1f3a4d", name="n", disk_format="raw",
        min_ram=512, protected=True, tags=frozenset({"a", "b"}),
        visibility=Visibility.COMMUNITY, properties={"os_distro": "debian"})
    image = request.image(MOMENT)
    assert (image.status, image.owner, image.created_at, image.updated_at) == (
        ImageStatus.QUEUED, "p1", MOMENT, MOMENT)
    assert image.tags == {"a", "b"} and image.properties == {"os_distro": "debian"}


def test_defaults_and_an_explicit_null_owner() -> None:
    request = NewImage.from_body({}, "p1")
    assert (request.owner, request.visibility, request.id) == ("p1", Visibility.SHARED, None)
    assert len(request.image(MOMENT).id) == 36
    assert NewImage.from_body({"owner": None}, "p1").owner is None


def test_rules_beyond_the_schema_apply() -> None:
    with pytest.raises(InvalidInput, match="min_disk"):
        NewImage.from_body({"min_disk": -1}, "p1").image(MOMENT)
    with pytest.raises(InvalidInput, match="property big"):
        NewImage.from_body({"big": "x" * 70_000}, "p1").image(MOMENT)
