"""Property protections: who may create, read, update or delete which image
properties, as Glance's `property_protection_file` states it.

The file's sections are regular expressions over property names, tried in
file order; the first one that matches a name decides, and a name no section
matches is refused. Each operation lists roles (or names one policy rule);
`@` admits anyone and `!` no one. Values in, decision out: reading the file
and checking policy rules happen in the services.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden

Check = Callable[[RequestContext], bool]


class PropertyOperation(StrEnum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"


def anyone(ctx: RequestContext) -> bool:
    return True


def no_one(ctx: RequestContext) -> bool:
    return False


def role_check(roles: Iterable[str]) -> Check:
    """Admit callers holding any of `roles`. Glance's no-auth admin context
    (no roles, `is_admin`) counts as holding `admin`."""
    wanted = frozenset(roles)

    def check(ctx: RequestContext) -> bool:
        held = ctx.roles | {"admin"} if ctx.is_admin else ctx.roles
        return bool(held & wanted)

    return check


@dataclass(frozen=True)
class PropertyRule:
    pattern: re.Pattern[str]
    checks: Mapping[PropertyOperation, Check]


# Glance reserves os_glance* for itself and always lets those through here
# (callers cannot set them anyway: image_rules refuses reserved names).
_GLANCE_NAMESPACE = PropertyRule(
    re.compile(r"^os_glance"), {operation: anyone for operation in PropertyOperation}
)


@dataclass(frozen=True)
class PropertyProtections:
    rules: tuple[PropertyRule, ...]

    def permits(self, ctx: RequestContext, name: str, operation: PropertyOperation) -> bool:
        for rule in (_GLANCE_NAMESPACE, *self.rules):
            if rule.pattern.search(name):
                check = rule.checks.get(operation)
                return check is not None and check(ctx)
        return False

    def enforce(self, ctx: RequestContext, name: str, operation: PropertyOperation) -> None:
        """Raise Forbidden when `ctx` may not `operation` the property `name`."""
        if not self.permits(ctx, name, operation):
            raise Forbidden(f"Property '{name}' is protected: {operation} is not allowed.")

    def readable(self, ctx: RequestContext, properties: Mapping[str, Any]) -> dict[str, Any]:
        """The properties this caller may read; the others are simply left out."""
        return {
            name: value for name, value in properties.items()
            if self.permits(ctx, name, PropertyOperation.READ)
        }


def operations_of_patch(
    properties: Mapping[str, Any], changes: Iterable[tuple[str, str]]
) -> list[tuple[str, PropertyOperation]]:
    """What each (op, name) patch step on an extra property needs, in order:
    `remove` needs delete, `add`/`replace` of a present property needs update
    and of an absent one create. Presence follows the earlier steps."""
    present = set(properties)
    needed: list[tuple[str, PropertyOperation]] = []
    for op, name in changes:
        if op == "remove":
            if name in present:
                needed.append((name, PropertyOperation.DELETE))
                present.discard(name)
        elif name in present:
            needed.append((name, PropertyOperation.UPDATE))
        else:
            needed.append((name, PropertyOperation.CREATE))
            present.add(name)
    return needed
