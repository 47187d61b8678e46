"""Console sessions on every database: the token sealed, found by the
cookie's secret only, expired ones removed; and the Keystone URL rule."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from glint.db.models import ConsoleSessionRow
from glint.db.session import Database
from glint.domain.errors import InvalidInput
from glint.services.console_sessions import ConsoleIdentity, ConsoleSessions, seal, unseal
from glint.services.keystone_login import tokens_url
from tests.conftest import BACKENDS
from tests.servers import migrated_database

TOKEN = "gAAAAABk-a-fernet-token-" + "x" * 160


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[Database]:
    with migrated_database(request.param, tmp_path_factory.mktemp("console-sessions")) as opened:
        yield opened


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _identity(expires_at: datetime | None) -> ConsoleIdentity:
    return ConsoleIdentity(token=TOKEN, user_name="ann", user_id="u1", project_name="p",
                           project_id="p1", roles=("member", "reader"), token_expires_at=expires_at)


def test_a_session_is_found_by_its_secret_only(db: Database) -> None:
    sessions = ConsoleSessions(db, timedelta(hours=8))
    opened = sessions.open(_identity(_now() + timedelta(hours=1)), _now())
    found = sessions.find(opened.secret)
    assert found is not None and found.identity.token == TOKEN
    assert found.identity.roles == ("member", "reader") and found.csrf == opened.session.csrf
    assert sessions.find(secrets.token_urlsafe(32)) is None
    with db.reading() as session:
        row = session.scalars(select(ConsoleSessionRow)).all()
    stored = " ".join(str(value) for r in row for value in vars(r).values())
    assert TOKEN not in stored and opened.secret not in stored
    sessions.close(opened.secret)
    assert sessions.find(opened.secret) is None


def test_a_session_ends_with_its_token_or_its_lifetime(db: Database) -> None:
    sessions = ConsoleSessions(db, timedelta(hours=1))
    now = _now()
    soon = sessions.open(_identity(now + timedelta(minutes=5)), now)
    assert soon.session.expires_at == now + timedelta(minutes=5)
    late = sessions.open(_identity(now + timedelta(days=1)), now)
    assert late.session.expires_at == now + timedelta(hours=1)
    assert not late.session.expired(now) and late.session.expired(now + timedelta(hours=1))


def test_expired_sessions_are_removed_when_one_opens(db: Database) -> None:
    sessions = ConsoleSessions(db, timedelta(hours=1))
    old = sessions.open(_identity(None), _now() - timedelta(hours=2))
    assert sessions.find(old.secret) is not None
    sessions.open(_identity(None), _now())
    assert sessions.find(old.secret) is None


def test_sealing_needs_the_secret() -> None:
    secret, other = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    sealed = seal(secret, TOKEN)
    assert TOKEN not in sealed and unseal(secret, sealed) == TOKEN
    assert unseal(other, sealed) != TOKEN
    with pytest.raises(InvalidInput):
        seal(secret, "x" * 9000)


@pytest.mark.parametrize("url", ["http://k:5000", "http://k:5000/", "http://k:5000/v3",
                                 "http://k:5000/v3/"])
def test_tokens_url(url: str) -> None:
    assert tokens_url(url) == "http://k:5000/v3/auth/tokens"
