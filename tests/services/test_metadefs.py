"""MetadefServices on a real database: namespaces with their contents, who
reads and who writes them, protection, and resource-type associations."""

from __future__ import annotations

import pytest

from glint.domain.errors import Conflict, Forbidden, NotFound
from glint.domain.metadefs import NamespaceQuery
from glint.services.container import Services
from tests.services.conftest import caller

ADMIN = caller("admin-project", "admin", "member", "reader")


def _namespace(services: Services, name: str, **body: object) -> None:
    services.metadefs.create_namespace(ADMIN, {"namespace": name, **body})


def test_a_namespace_is_created_with_its_contents(services: Services) -> None:
    created = services.metadefs.create_namespace(ADMIN, {
        "namespace": "Glint::Disks", "visibility": "public",
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
        "properties": {"bus": {"type": "string", "title": "Bus", "enum": ["scsi", "virtio"]}},
        "objects": [{"name": "Cache", "properties": {"size": {"type": "integer",
                                                              "title": "Size"}}}],
        "tags": [{"name": "fast"}, {"name": "slow"}],
    })
    shown = services.metadefs.show_namespace(caller(), "Glint::Disks")
    assert shown == created
    assert shown.namespace.owner == "admin-project"
    assert [a.name for a in shown.associations] == ["OS::Glance::Image"]
    assert [p.name for p in shown.properties] == ["bus"]
    assert [o.name for o in shown.objects] == ["Cache"]
    assert sorted(t.name for t in shown.tags) == ["fast", "slow"]
    # Shown for a resource type, the property names carry its prefix.
    prefixed = services.metadefs.show_namespace(caller(), "Glint::Disks", "OS::Glance::Image")
    assert [p.name for p in prefixed.properties] == ["hw_bus"]
    assert list(prefixed.objects[0].properties) == ["hw_size"]


def test_duplicates_are_refused(services: Services) -> None:
    _namespace(services, "Glint::Once")
    with pytest.raises(Conflict):
        _namespace(services, "Glint::Once")
    with pytest.raises(Conflict, match="Duplicate tag name"):
        _namespace(services, "Glint::Twice", tags=[{"name": "a"}, {"name": "a"}])


def test_a_private_namespace_is_its_projects_only(services: Services) -> None:
    _namespace(services, "Glint::Private", visibility="private")
    with pytest.raises(NotFound):
        services.metadefs.show_namespace(caller(), "Glint::Private")
    own = caller("admin-project", "reader")
    assert services.metadefs.show_namespace(own, "Glint::Private").namespace.namespace == (
        "Glint::Private")
    names = {c.namespace.namespace for c in services.metadefs.list_namespaces(
        caller(), NamespaceQuery(limit=100))}
    assert "Glint::Private" not in names


def test_writes_are_for_admins(services: Services) -> None:
    _namespace(services, "Glint::Public", visibility="public")
    with pytest.raises(Forbidden):
        services.metadefs.create_namespace(caller(), {"namespace": "Glint::Mine"})
    with pytest.raises(Forbidden):
        services.metadefs.delete_namespace(caller(), "Glint::Public")
    with pytest.raises(NotFound):
        services.metadefs.delete_namespace(caller(), "Glint::Absent")


def test_a_protected_namespace_is_not_deleted(services: Services) -> None:
    _namespace(services, "Glint::Kept", protected=True)
    with pytest.raises(Forbidden, match="protected"):
        services.metadefs.delete_namespace(ADMIN, "Glint::Kept")
    services.metadefs.update_namespace(ADMIN, "Glint::Kept", {"namespace": "Glint::Kept"})
    services.metadefs.delete_namespace(ADMIN, "Glint::Kept")
    with pytest.raises(NotFound):
        services.metadefs.show_namespace(ADMIN, "Glint::Kept")


def test_associations(services: Services) -> None:
    _namespace(services, "Glint::Assoc", visibility="public")
    services.metadefs.associate(ADMIN, "Glint::Assoc", {"name": "Glint::NewType",
                                                        "prefix": "new_"})
    assert [a.name for a in services.metadefs.list_associations(caller(), "Glint::Assoc")] == [
        "Glint::NewType"]
    assert "Glint::NewType" in {t.name for t in services.metadefs.list_resource_types(caller())}
    services.metadefs.deassociate(ADMIN, "Glint::Assoc", "Glint::NewType")
    assert services.metadefs.list_associations(caller(), "Glint::Assoc") == []
