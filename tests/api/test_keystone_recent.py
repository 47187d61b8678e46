"""The in-process reuse of recent token validations (no Keystone needed)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from glint.api.keystone import Identity, KeystoneAuthenticator, _token_expiry


def _authenticator() -> KeystoneAuthenticator:
    authenticator = object.__new__(KeystoneAuthenticator)
    authenticator._recent = OrderedDict()
    return authenticator


def _scope(token: bytes | None, **extra: bytes) -> dict[str, Any]:
    headers = [(b"x-auth-token", token)] if token is not None else []
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]
    return {"headers": headers}


def _token_info(expires_in: timedelta) -> dict[str, Any]:
    moment = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return {"token": {"expires_at": moment}}


CONFIRMED = Identity({"x-identity-status": "Confirmed", "x-project-id": "p", "x-roles": "member"})


def test_a_validated_token_is_reused_by_the_same_token_only() -> None:
    authenticator = _authenticator()
    authenticator._remember(_scope(b"t1"), {"keystone.token_info": _token_info(
        timedelta(hours=1))}, CONFIRMED)
    assert authenticator.recently_validated(_scope(b"t1", x_openstack_request_id=b"r")) == CONFIRMED
    assert authenticator.recently_validated(_scope(b"t2")) is None
    assert authenticator.recently_validated(_scope(b"t1", x_service_token=b"s")) is None
    assert authenticator.recently_validated(_scope(None)) is None


def test_expired_or_unconfirmed_tokens_are_not_reused() -> None:
    authenticator = _authenticator()
    authenticator._remember(_scope(b"old"), {"keystone.token_info": _token_info(
        timedelta(seconds=-5))}, CONFIRMED)
    assert authenticator.recently_validated(_scope(b"old")) is None
    authenticator._remember(_scope(b"bad"), {}, Identity({"x-identity-status": "Invalid"}))
    assert authenticator.recently_validated(_scope(b"bad")) is None


def test_token_expiry_of_v3_and_v2_token_data() -> None:
    assert _token_expiry({"token": {"expires_at": "2030-01-01T00:00:00.000000Z"}}) == datetime(
        2030, 1, 1, tzinfo=UTC)
    assert _token_expiry({"access": {"token": {"expires": "2030-01-01T00:00:00Z"}}}) == datetime(
        2030, 1, 1, tzinfo=UTC)
    assert _token_expiry(None) is None and _token_expiry({"token": {}}) is None
