"""Glance 33's default policy for metadata definitions, as plain functions,
and the 404-or-403 choice every metadef call makes.

Reads: admins, and readers for public namespaces or their own project's.
Writes (`metadef_admin`): admins only. The running service replaces the
rule table with oslo.policy checks of the same names, so an operator's
policy.yaml applies (see services/authorization.py).

A namespace the caller may not read answers 404 whatever was asked; a
readable one answers 403 to an action the caller may not take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.metadefs import Namespace, NamespaceVisibility

# A rule judges the caller against a namespace (None for listings and creation).
NamespaceRule = Callable[[RequestContext, Namespace | None], bool]

READ_NAMESPACE = "get_metadef_namespace"


def project_reader(ctx: RequestContext, namespace: Namespace | None) -> bool:
    """Listings: admin or a reader of any project."""
    return ctx.is_admin or ctx.is_reader


def reader_of_namespace(ctx: RequestContext, namespace: Namespace | None) -> bool:
    """Reading one namespace and its contents: admin, or a reader of its
    project, or a reader and the namespace is public."""
    if ctx.is_admin:
        return True
    if not ctx.is_reader or namespace is None:
        return False
    return namespace.owner == ctx.project_id or namespace.visibility == NamespaceVisibility.PUBLIC


def metadef_admin(ctx: RequestContext, namespace: Namespace | None) -> bool:
    """Every metadef write."""
    return ctx.is_admin


LIST_RULES = ("get_metadef_namespaces", "list_metadef_resource_types")
READ_RULES = (
    READ_NAMESPACE, "get_metadef_object", "get_metadef_objects", "get_metadef_resource_type",
    "get_metadef_property", "get_metadef_properties", "get_metadef_tag", "get_metadef_tags",
)
WRITE_RULES = (
    "add_metadef_namespace", "modify_metadef_namespace", "delete_metadef_namespace",
    "add_metadef_object", "modify_metadef_object", "delete_metadef_object",
    "add_metadef_resource_type_association", "remove_metadef_resource_type_association",
    "add_metadef_property", "modify_metadef_property", "remove_metadef_property",
    "add_metadef_tag", "add_metadef_tags", "modify_metadef_tag", "delete_metadef_tag",
    "delete_metadef_tags",
)

DEFAULT_METADEF_RULES: dict[str, NamespaceRule] = {
    **{name: project_reader for name in LIST_RULES},
    **{name: reader_of_namespace for name in READ_RULES},
    **{name: metadef_admin for name in WRITE_RULES},
}


@dataclass(frozen=True)
class NamespaceSight:
    """The namespaces a caller sees at all, whatever the policy: every one
    (`everything`), else public ones and those `project` owns. The domain
    judges one namespace with `admits`; db/metadef_repositories.py renders
    the same value as SQL for listings, so the rule is written once."""

    everything: bool
    project: str | None

    def admits(self, namespace: Namespace) -> bool:
        if self.everything or namespace.visibility == NamespaceVisibility.PUBLIC:
            return True
        return self.project is not None and namespace.owner == self.project


def namespace_sight(ctx: RequestContext) -> NamespaceSight:
    """Admins see every namespace, others public ones and their own project's."""
    return NamespaceSight(everything=ctx.is_admin, project=ctx.project_id)


def not_found(name: str) -> NotFound:
    return NotFound(f"Metadata definition namespace={name} was not found.")


def forbidden(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


@dataclass(frozen=True)
class MetadefPolicy:
    rules: dict[str, NamespaceRule]

    def allows(self, action: str, ctx: RequestContext, namespace: Namespace | None = None) -> bool:
        return self.rules[action](ctx, namespace)

    def enforce_list(self, ctx: RequestContext, action: str) -> None:
        """A listing or a creation: Forbidden when denied."""
        if not self.allows(action, ctx):
            raise forbidden(action)

    def enforce(self, ctx: RequestContext, action: str, namespace: Namespace | None,
                name: str) -> Namespace:
        """The namespace if the caller may take `action` on it. NotFound when
        it is missing, invisible, or the caller may not read it; Forbidden
        when it may be read but not acted on."""
        if namespace is None or not namespace_sight(ctx).admits(namespace):
            raise not_found(name)
        if self.allows(action, ctx, namespace):
            return namespace
        if action == READ_NAMESPACE or not self.allows(READ_NAMESPACE, ctx, namespace):
            raise not_found(name)
        raise forbidden(action)


def default_metadef_policy() -> MetadefPolicy:
    return MetadefPolicy(rules=dict(DEFAULT_METADEF_RULES))
