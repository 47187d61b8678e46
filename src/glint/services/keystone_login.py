"""A console login: a project-scoped token from Keystone for a user name and
password (Identity API v3, password method), obtained by the server.

The password is sent to Keystone and forgotten; neither it nor the token is
logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from glint.domain.errors import IdentityUnavailable, NotAuthenticated
from glint.services.console_sessions import ConsoleIdentity

KEYSTONE_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Credentials:
    user_name: str
    password: str
    # The user's and the project's domain, by name ("Default" in most clouds).
    domain: str
    project: str


def tokens_url(keystone_url: str) -> str:
    """Keystone's /v3/auth/tokens from its endpoint, given with or without /v3."""
    base = keystone_url.rstrip("/")
    if base.endswith("/v3"):
        base = base[: -len("/v3")]
    return f"{base}/v3/auth/tokens"


def _request_body(credentials: Credentials) -> dict[str, Any]:
    domain = {"name": credentials.domain}
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": credentials.user_name, "domain": domain,
            "password": credentials.password}}},
        "scope": {"project": {"name": credentials.project, "domain": domain}},
    }}


def _expiry(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _identity(token: str, body: Any) -> ConsoleIdentity:
    data = body["token"]
    return ConsoleIdentity(
        token=token,
        user_name=data["user"]["name"], user_id=data["user"]["id"],
        project_name=data["project"]["name"], project_id=data["project"]["id"],
        roles=tuple(sorted(role["name"].lower() for role in data.get("roles", []))),
        token_expires_at=_expiry(data["expires_at"]),
    )


class KeystoneLogin:
    """Exchanges credentials for a token at one Keystone."""

    def __init__(self, keystone_url: str) -> None:
        self._url = tokens_url(keystone_url)

    async def login(self, credentials: Credentials) -> ConsoleIdentity:
        """The identity Keystone vouches for. Raises NotAuthenticated when it refuses
        the credentials, IdentityUnavailable when it cannot be asked."""
        try:
            async with httpx.AsyncClient(timeout=KEYSTONE_TIMEOUT_SECONDS) as client:
                response = await client.post(self._url, json=_request_body(credentials))
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(
                f"The identity service could not be reached ({type(exc).__name__}).") from None
        if response.status_code in (400, 401, 403, 404):
            raise NotAuthenticated("The user name, password, domain or project is not right.")
        token = response.headers.get("x-subject-token")
        if response.status_code != 201 or not token:
            raise IdentityUnavailable(
                f"The identity service answered {response.status_code}; try again later.")
        try:
            return _identity(token, response.json())
        except (KeyError, TypeError, ValueError):
            raise IdentityUnavailable("The identity service's answer could not be read.") from None
