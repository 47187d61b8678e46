"""MemberServices on a real database: who may share an image, who sees a
membership, who changes its status, and what a shared image's list shows."""

from __future__ import annotations

import pytest

from glint.domain.errors import Forbidden, InvalidInput, NotFound, QuotaExceeded
from glint.domain.image import MemberStatus
from glint.domain.listing import ImageQuery
from glint.services.container import Services
from tests.services.conftest import caller, new_image


def _listed(services: Services, project: str, **filters: object) -> set[str]:
    query = ImageQuery(limit=100, **filters)  # type: ignore[arg-type]
    return {image.id for image in services.images.list_images(caller(project), query)}


def test_sharing_from_pending_to_accepted(services: Services) -> None:
    owner, guest = caller(), caller()
    image = new_image(services, owner, visibility="shared")
    member = services.members.add(owner, image.id, str(guest.project_id))
    assert member.status == MemberStatus.PENDING
    # A pending member sees the image, but its list does not show it by default.
    assert services.images.show(guest, image.id).id == image.id
    assert image.id not in _listed(services, str(guest.project_id))
    assert image.id in _listed(services, str(guest.project_id), member_status="pending")
    accepted = services.members.update(guest, image.id, str(guest.project_id), "accepted")
    assert accepted.status == MemberStatus.ACCEPTED
    assert accepted.updated_at >= member.updated_at
    assert image.id in _listed(services, str(guest.project_id))


def test_only_the_member_project_changes_its_status(services: Services) -> None:
    owner, guest = caller(), caller()
    image = new_image(services, owner, visibility="shared")
    services.members.add(owner, image.id, str(guest.project_id))
    with pytest.raises(Forbidden):
        services.members.update(owner, image.id, str(guest.project_id), "accepted")
    with pytest.raises(InvalidInput, match="Invalid status: maybe"):
        services.members.update(guest, image.id, str(guest.project_id), "maybe")


def test_a_member_sees_only_its_own_membership(services: Services) -> None:
    owner, guest, third = caller(), caller(), caller()
    image = new_image(services, owner, visibility="shared")
    for project in (guest, third):
        services.members.add(owner, image.id, str(project.project_id))
    assert {m.member_id for m in services.members.list_members(owner, image.id)} == {
        guest.project_id, third.project_id}
    assert [m.member_id for m in services.members.list_members(guest, image.id)] == [
        guest.project_id]
    with pytest.raises(NotFound):
        services.members.show(guest, image.id, str(third.project_id))
    # Another project that is not a member does not even see the image.
    with pytest.raises(NotFound):
        services.members.list_members(caller(), image.id)


def test_only_shared_images_have_members(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner, visibility="private")
    with pytest.raises(Forbidden, match="Only shared images have members"):
        services.members.add(owner, image.id, "someone")


def test_a_stranger_cannot_add_members(services: Services) -> None:
    image = new_image(services, caller(), visibility="shared")
    with pytest.raises(NotFound):
        services.members.add(caller(), image.id, "someone")


def test_the_member_quota(services: Services) -> None:
    owner = caller()
    image = new_image(services, owner, visibility="shared")
    quota = services.settings.image_limits.image_member_quota
    for n in range(quota):
        services.members.add(owner, image.id, f"project-{n}")
    with pytest.raises(QuotaExceeded):
        services.members.add(owner, image.id, "one-too-many")


def test_removing_a_member_hides_the_image_again(services: Services) -> None:
    owner, guest = caller(), caller()
    image = new_image(services, owner, visibility="shared")
    services.members.add(owner, image.id, str(guest.project_id))
    services.members.remove(owner, image.id, str(guest.project_id))
    with pytest.raises(NotFound):
        services.images.show(guest, image.id)
    with pytest.raises(NotFound):
        services.members.remove(owner, image.id, str(guest.project_id))
