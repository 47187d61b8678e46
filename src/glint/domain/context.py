"""Who is asking: the request context every rule and query is judged by."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    """The caller's identity, as the auth middleware established it.

    `is_admin` is true for the admin role and for Glance's unauthenticated
    mode (no auth flavor), where every request acts as an administrator with
    no project.
    """

    request_id: str
    user_id: str | None = None
    project_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
    # Set for system- or domain-scoped Keystone tokens (policy scope checks).
    system_scope: str | None = None
    domain_id: str | None = None
    # Roles of a service token sent beside the user's (X-Service-Token).
    service_roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_member(self) -> bool:
        """Has the project member role (admin implies it, as Keystone's implied roles do)."""
        return self.is_admin or bool(self.roles & {"member", "admin"})

    @property
    def is_reader(self) -> bool:
        return self.is_member or "reader" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles
