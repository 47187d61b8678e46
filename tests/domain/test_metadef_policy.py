"""Glance 33's default metadef rules and the 404-or-403 choice, as plain functions."""

from __future__ import annotations

from datetime import datetime

import pytest

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.metadef_policy import (
    MetadefPolicy,
    default_metadef_policy,
    namespace_sight,
)
from glint.domain.metadefs import Namespace, NamespaceVisibility

MOMENT = datetime(2026, 1, 1)
ADMIN = RequestContext(request_id="r", project_id="p0", roles=frozenset({"admin"}), is_admin=True)
READER = RequestContext(request_id="r", project_id="p1", roles=frozenset({"reader"}))
STRANGER = RequestContext(request_id="r", project_id="p2", roles=frozenset({"member", "reader"}))
NO_ROLES = RequestContext(request_id="r", project_id="p1", roles=frozenset())


def namespace(visibility: NamespaceVisibility, owner: str = "p1") -> Namespace:
    return Namespace(namespace="N", visibility=visibility, protected=False, owner=owner,
                     created_at=MOMENT, updated_at=MOMENT)


PRIVATE = namespace(NamespaceVisibility.PRIVATE)
PUBLIC = namespace(NamespaceVisibility.PUBLIC)


@pytest.mark.parametrize(("caller", "action", "target", "allowed"), [
    (READER, "get_metadef_namespaces", None, True),
    (NO_ROLES, "get_metadef_namespaces", None, False),
    (READER, "get_metadef_namespace", PRIVATE, True),
    (STRANGER, "get_metadef_namespace", PRIVATE, False),
    (STRANGER, "get_metadef_tags", PUBLIC, True),
    (NO_ROLES, "get_metadef_object", PUBLIC, False),
    (ADMIN, "get_metadef_property", PRIVATE, True),
    (READER, "add_metadef_object", PRIVATE, False),
    (STRANGER, "add_metadef_namespace", None, False),
    (ADMIN, "delete_metadef_tags", PUBLIC, True),
])
def test_default_rules(caller: RequestContext, action: str, target: Namespace | None,
                       allowed: bool) -> None:
    assert default_metadef_policy().allows(action, caller, target) is allowed


def test_visibility_before_any_rule() -> None:
    def visible(ctx: RequestContext, namespace: Namespace) -> bool:
        return namespace_sight(ctx).admits(namespace)

    assert visible(READER, PRIVATE) and visible(STRANGER, PUBLIC) and visible(ADMIN, PRIVATE)
    assert not visible(STRANGER, PRIVATE)
    # Even a policy that lets everyone read cannot reveal another project's private namespace.
    open_policy = MetadefPolicy(rules={"get_metadef_namespace": lambda ctx, ns: True})
    with pytest.raises(NotFound):
        open_policy.enforce(STRANGER, "get_metadef_namespace", PRIVATE, "N")


def test_unreadable_is_404_readable_but_denied_is_403() -> None:
    policy = default_metadef_policy()
    with pytest.raises(NotFound):
        policy.enforce(STRANGER, "get_metadef_namespace", None, "N")
    with pytest.raises(NotFound):
        policy.enforce(NO_ROLES, "add_metadef_tag", PRIVATE, "N")  # own, but may not read it
    with pytest.raises(Forbidden):
        policy.enforce(STRANGER, "add_metadef_tag", PUBLIC, "N")
    assert policy.enforce(READER, "get_metadef_objects", PRIVATE, "N") is PRIVATE
    with pytest.raises(Forbidden):
        policy.enforce_list(NO_ROLES, "get_metadef_namespaces")
