"""URI filtering for web-download imports ([import_filtering_opts])."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from glint.domain.import_filter import ImportFilter, UriRefused, check_uri

DNS = {
    "images.example.org": ["93.184.216.34"],
    "inside.example.org": ["10.0.0.5"],
    "metadata.example.org": ["169.254.169.254"],
    "mixed.example.org": ["127.0.0.1", "151.101.1.1"],
    "mapped.example.org": ["::ffff:127.0.0.1"],
}


def resolve(host: str, port: int) -> Sequence[str]:
    if host not in DNS:
        raise OSError("no such host")
    return DNS[host]


def test_public_http_uri_is_allowed() -> None:
    assert check_uri("http://images.example.org/cirros.img", ImportFilter(), resolve) == [
        "93.184.216.34"]
    assert check_uri("https://images.example.org:443/x", ImportFilter(), resolve)


def test_only_the_usable_addresses_are_returned() -> None:
    assert check_uri("http://mixed.example.org/x", ImportFilter(), resolve) == ["151.101.1.1"]


@pytest.mark.parametrize(("uri", "rule"), [
    ("ftp://images.example.org/x", "Scheme"),
    ("file:///etc/passwd", "Scheme"),
    ("images.example.org/x", "Scheme"),
    ("http://images.example.org:8080/x", "Port"),
    ("http://127.0.0.1/x", "internal"),
    ("http://[::1]/x", "internal"),
    ("http://localhost/x", "cannot be resolved"),
    ("http://2130706433/x", "Host"),
    ("http://0x7f000001/x", "Host"),
    ("http://127.1/x", "Host"),
    ("http://0x7f.0.0.1/x", "Host"),
    ("http://inside.example.org/x", "internal"),
    ("http://metadata.example.org/latest/meta-data", "internal"),
    ("http://169.254.169.254/latest/meta-data", "internal"),
    ("http://mapped.example.org/x", "internal"),
    ("http://[::ffff:127.0.0.1]/x", "internal"),
    ("http://unknown.example.org/x", "cannot be resolved"),
    ("http://images.example.org:99999/x", "not valid"),
])
def test_refused(uri: str, rule: str) -> None:
    with pytest.raises(UriRefused, match=rule):
        check_uri(uri, ImportFilter(), resolve)


def test_allowed_hosts_may_name_internal_ones() -> None:
    rules = ImportFilter(allowed_hosts=("127.0.0.1",), allowed_ports=(19370,))
    assert check_uri("http://127.0.0.1:19370/x", rules, resolve) == ["127.0.0.1"]
    with pytest.raises(UriRefused, match="Host"):
        check_uri("http://images.example.org:19370/x", rules, resolve)


def test_deny_lists_apply_only_without_allow_lists() -> None:
    rules = ImportFilter(allowed_schemes=(), disallowed_schemes=("http",), allowed_ports=(),
                         disallowed_ports=(8080,), disallowed_hosts=("images.example.org",))
    with pytest.raises(UriRefused, match="Scheme"):
        check_uri("http://images.example.org/x", rules, resolve)
    with pytest.raises(UriRefused, match="Host"):
        check_uri("https://images.example.org/x", rules, resolve)
    with pytest.raises(UriRefused, match="Port"):
        check_uri("https://mixed.example.org:8080/x", rules, resolve)
    assert check_uri("https://mixed.example.org:8443/x", rules, resolve)
