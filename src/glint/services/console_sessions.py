"""Web console sessions, kept in the database so that every worker process
and every node behind a load balancer knows them.

The browser holds only a random secret, in an HttpOnly cookie. The database
holds a digest of that secret (the row's id) and the Keystone token sealed
with a key derived from the secret: a copy of the database gives no usable
cookie and no token, and the cookie gives nothing without the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from glint.db.console_sessions import delete_expired, delete_session, get_session, insert_session
from glint.db.models import ConsoleSessionRow
from glint.db.session import Database
from glint.domain.errors import InvalidInput
from glint.settings import Settings

# HKDF-Expand (RFC 5869, section 2.3) gives at most 255 blocks of SHA-256.
_MAX_SEALED_LENGTH = 255 * hashlib.sha256().digest_size
_SEAL_INFO = b"glint console token"


@dataclass(frozen=True)
class ConsoleIdentity:
    """Who a console session acts as. `token` is None without Keystone."""

    token: str | None
    user_name: str | None
    user_id: str | None
    project_name: str | None
    project_id: str | None
    roles: tuple[str, ...]
    # When the token expires (naive UTC); None: it does not.
    token_expires_at: datetime | None


@dataclass(frozen=True)
class ConsoleSession:
    identity: ConsoleIdentity
    csrf: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class OpenedSession:
    """A new session and the secret for the browser's cookie (shown only once)."""

    secret: str
    session: ConsoleSession


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _keystream(secret: str, length: int) -> bytes:
    """HKDF-Expand of the (uniformly random) secret: a key used for one token only."""
    key = secret.encode()
    blocks: list[bytes] = []
    previous = b""
    for counter in range(1, -(-length // len(hashlib.sha256().digest())) + 1):
        previous = hmac.new(key, previous + _SEAL_INFO + bytes([counter]), hashlib.sha256).digest()
        blocks.append(previous)
    return b"".join(blocks)[:length]


def seal(secret: str, token: str) -> str:
    """`token` encrypted with a key derived from `secret`; InvalidInput if it is too long."""
    data = token.encode()
    if len(data) > _MAX_SEALED_LENGTH:
        raise InvalidInput("The identity service returned a token too long to keep.")
    mixed = bytes(a ^ b for a, b in zip(data, _keystream(secret, len(data)), strict=True))
    return base64.b64encode(mixed).decode()


def unseal(secret: str, sealed: str) -> str:
    """The token `seal` sealed with `secret` (nonsense with any other secret)."""
    data = base64.b64decode(sealed)
    mixed = bytes(a ^ b for a, b in zip(data, _keystream(secret, len(data)), strict=True))
    return mixed.decode("utf-8", "replace")


class ConsoleSessions:
    """Open, find and close console sessions (blocking: run in a thread)."""

    def __init__(self, db: Database, lifetime: timedelta) -> None:
        self._db = db
        self._lifetime = lifetime

    def open(self, identity: ConsoleIdentity, now: datetime) -> OpenedSession:
        """A new session for `identity`, ending at the token's expiry or after the
        configured lifetime, whichever is first. Expired sessions are removed."""
        secret = secrets.token_urlsafe(32)
        expires_at = now + self._lifetime
        if identity.token_expires_at is not None:
            expires_at = min(expires_at, identity.token_expires_at)
        session = ConsoleSession(identity=identity, csrf=secrets.token_urlsafe(32),
                                 expires_at=expires_at)
        row = ConsoleSessionRow(
            id=_session_id(secret), csrf=session.csrf,
            sealed_token=seal(secret, identity.token) if identity.token is not None else None,
            user_name=identity.user_name, user_id=identity.user_id,
            project_name=identity.project_name, project_id=identity.project_id,
            roles=",".join(identity.roles), created_at=now, expires_at=expires_at,
        )
        with self._db.writing() as db_session:
            delete_expired(db_session, now)
            insert_session(db_session, row)
        return OpenedSession(secret=secret, session=session)

    def find(self, secret: str) -> ConsoleSession | None:
        """The session whose cookie holds `secret`, expired or not; None if there is none."""
        with self._db.reading() as db_session:
            row = get_session(db_session, _session_id(secret))
        if row is None:
            return None
        token = unseal(secret, row.sealed_token) if row.sealed_token is not None else None
        identity = ConsoleIdentity(
            token=token, user_name=row.user_name, user_id=row.user_id,
            project_name=row.project_name, project_id=row.project_id,
            roles=tuple(role for role in row.roles.split(",") if role),
            token_expires_at=row.expires_at if token is not None else None,
        )
        return ConsoleSession(identity=identity, csrf=row.csrf, expires_at=row.expires_at)

    def close(self, secret: str) -> None:
        """End the session whose cookie holds `secret` (nothing if there is none)."""
        with self._db.writing() as db_session:
            delete_session(db_session, _session_id(secret))


@dataclass(frozen=True)
class ConsoleServices:
    """What the web console needs: its sessions, and a Keystone to log in
    with (None when the auth flavor uses no Keystone)."""

    sessions: ConsoleSessions
    keystone_url: str | None


def build_console(settings: Settings, db: Database) -> ConsoleServices:
    """The console's services; the Keystone URL is `[console] keystone_url`, else
    `[keystone_authtoken] www_authenticate_uri` (or the older `auth_uri`)."""
    keystone_url = None
    if settings.auth.uses_keystone:
        keystone_url = (settings.console.keystone_url or settings.auth.www_authenticate_uri
                        or settings.auth.legacy_auth_uri)
    return ConsoleServices(
        sessions=ConsoleSessions(db, timedelta(seconds=settings.console.session_lifetime)),
        keystone_url=keystone_url,
    )
