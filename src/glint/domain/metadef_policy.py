"""Glance 33's default policy for metadata definitions, as plain functions.

Reads: admins, and readers for public namespaces or their own project's.
Writes (`metadef_admin`): admins only. A namespace the caller may not read
answers 404 whatever was asked; a readable one answers 403 to a write the
caller may not make.
"""

from __future__ import annotations

from glint.domain.context import RequestContext
from glint.domain.errors import Forbidden, NotFound
from glint.domain.metadefs import Namespace, NamespaceVisibility


def can_list(ctx: RequestContext) -> bool:
    """get_metadef_namespaces and get_metadef_resource_types: admin or project reader."""
    return ctx.is_admin or ctx.is_reader


def can_read(ctx: RequestContext, namespace: Namespace) -> bool:
    """get_metadef_namespace (and its objects, properties, tags, associations)."""
    if ctx.is_admin:
        return True
    if not ctx.is_reader:
        return False
    owned = ctx.project_id is not None and namespace.owner == ctx.project_id
    return owned or namespace.visibility == NamespaceVisibility.PUBLIC


def metadef_admin(ctx: RequestContext) -> bool:
    """Every metadef write."""
    return ctx.is_admin


def not_found(name: str) -> NotFound:
    return NotFound(f"Metadata definition namespace={name} was not found.")


def enforce_list(ctx: RequestContext, action: str) -> None:
    if not can_list(ctx):
        raise Forbidden(f"You are not authorized to complete {action} action.")


def enforce_read(ctx: RequestContext, namespace: Namespace | None, name: str) -> Namespace:
    """The namespace if the caller may read it; NotFound otherwise (never 403)."""
    if namespace is None or not can_read(ctx, namespace):
        raise not_found(name)
    return namespace


def enforce_write(ctx: RequestContext, action: str) -> None:
    """Forbidden unless the caller is a metadef admin (after enforce_read)."""
    if not metadef_admin(ctx):
        raise Forbidden(f"You are not authorized to complete {action} action.")
