"""ImageServices on a real database: create, patch, tags, (de)activation,
deletion, and the 404-or-403 choice of each."""

from __future__ import annotations

import pytest

from glint.db import repositories as repo
from glint.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from glint.domain.image import ImageStatus, Visibility
from glint.domain.image_rules import Change, PatchOp
from glint.domain.listing import ImageQuery
from glint.services.clock import now
from glint.services.container import Services
from tests.services.conftest import caller, new_image


def _activate(services: Services, image_id: str) -> None:
    with services.db.writing() as session:
        assert repo.change_status(session, image_id, ImageStatus.QUEUED, ImageStatus.ACTIVE,
                                  now())


def test_create_fills_in_the_defaults(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner, name="one", os_distro="debian", tags=["a"])
    assert (image.status, image.visibility, image.owner) == (
        ImageStatus.QUEUED, Visibility.SHARED, owner.project_id)
    assert image.properties == {"os_distro": "debian"} and image.tags == {"a"}
    assert services.images.show(owner, image.id) == image


def test_create_for_another_project_is_for_admins(services: Services) -> None:
    with pytest.raises(Forbidden, match="owned by another project"):
        new_image(services, caller(), owner="someone-else")
    assert new_image(services, caller(None, "admin"), owner="someone-else").owner == "someone-else"


def test_publicizing_is_for_admins(services: Services) -> None:
    with pytest.raises(Forbidden, match="visibility to public"):
        new_image(services, caller(), visibility="public")
    owner = caller()
    image = new_image(services, owner)
    with pytest.raises(Forbidden):
        services.images.update(owner, image.id, [Change(PatchOp.REPLACE, "visibility", "public")])
    assert services.images.show(owner, image.id).visibility == Visibility.SHARED


def test_a_patch_applies_wholly_or_not_at_all(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner)
    changed = services.images.update(owner, image.id, [
        Change(PatchOp.ADD, "color", "blue"), Change(PatchOp.REPLACE, "name", "renamed")])
    assert (changed.name, changed.properties) == ("renamed", {"color": "blue"})
    with pytest.raises(InvalidInput):
        services.images.update(owner, image.id, [
            Change(PatchOp.ADD, "size_hint", "x"), Change(PatchOp.REPLACE, "min_ram", -1)])
    assert services.images.show(owner, image.id).properties == {"color": "blue"}


def test_others_see_404_or_403(services: Services) -> None:
    owner, stranger = caller(), caller()
    private = new_image(services, owner, visibility="private")
    community = new_image(services, owner, visibility="community")
    with pytest.raises(NotFound):
        services.images.show(stranger, private.id)
    with pytest.raises(NotFound):
        services.images.update(stranger, private.id, [Change(PatchOp.ADD, "x", "1")])
    assert services.images.show(stranger, community.id).id == community.id
    with pytest.raises(Forbidden):
        services.images.update(stranger, community.id, [Change(PatchOp.ADD, "x", "1")])
    with pytest.raises(NotFound):
        services.images.show(owner, "not-a-uuid")


def test_tags_and_their_quota(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner)
    services.images.add_tag(owner, image.id, "golden")
    services.images.add_tag(owner, image.id, "golden")
    assert services.images.show(owner, image.id).tags == {"golden"}
    services.images.remove_tag(owner, image.id, "golden")
    with pytest.raises(NotFound):
        services.images.remove_tag(owner, image.id, "golden")
    for n in range(services.settings.image_limits.image_tag_quota):
        services.images.add_tag(owner, image.id, f"t{n}")
    with pytest.raises(QuotaExceeded):
        services.images.add_tag(owner, image.id, "one-too-many")


def test_deactivate_and_reactivate(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner)
    with pytest.raises(Forbidden, match="status 'queued'"):
        services.images.deactivate(owner, image.id)
    _activate(services, image.id)
    services.images.deactivate(owner, image.id)
    services.images.deactivate(owner, image.id)  # already so: nothing to do
    assert services.images.show(owner, image.id).status == ImageStatus.DEACTIVATED
    services.images.reactivate(owner, image.id)
    assert services.images.show(owner, image.id).status == ImageStatus.ACTIVE


def test_delete_returns_the_locations_and_hides_the_image(services: Services) -> None:
    owner = caller()
    protected = new_image(services, owner, protected=True)
    with pytest.raises(Forbidden, match="is protected"):
        services.images.delete(owner, protected.id)
    image = new_image(services, owner)
    assert services.images.delete(owner, image.id) == []
    with pytest.raises(NotFound):
        services.images.show(owner, image.id)
    assert image.id not in {i.id for i in services.images.list_images(owner, ImageQuery(limit=50))}


def test_a_guarded_status_change_loses_to_a_concurrent_one(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner)
    _activate(services, image.id)
    with services.db.writing() as session:
        assert not repo.change_status(session, image.id, ImageStatus.QUEUED,
                                      ImageStatus.ACTIVE, now())
    with pytest.raises(Conflict):
        with services.db.writing() as session:
            stale = services.images.show(owner, image.id)
            stale.status = ImageStatus.QUEUED
            repo.save_image(session, stale, expected_status=ImageStatus.QUEUED)
