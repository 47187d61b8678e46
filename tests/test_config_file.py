from __future__ import annotations

import logging
from pathlib import Path

import pytest

from glint.config_file import ConfigError, database_url, settings_from_files

TUTORIAL_CONF = """
[DEFAULT]
bind_port = 9393
workers = 2
show_image_direct_url = True
some_unknown_option = 1

[database]
connection = mysql+pymysql://glance:123456@controller/glance

[keystone_authtoken]
auth_uri = http://controller:5000
auth_url = http://controller:35357
memcached_servers = controller:11211
auth_type = password
project_domain_name = default
user_domain_name = default
project_name = service
username = glance
password = 123456

[paste_deploy]
flavor = trusted

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = /var/lib/glance/images
"""


def write(tmp_path: Path, text: str, name: str = "glance-api.conf") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tutorial_style_file_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    settings = settings_from_files([write(tmp_path, TUTORIAL_CONF)], tmp_path)
    assert settings.server.bind_port == 9393 and settings.server.workers == 2
    assert settings.api.show_image_direct_url is True
    assert settings.database.url == "mysql+pymysql://glance:123456@controller/glance"
    assert not settings.database.embedded
    assert settings.store.filesystem_store_datadir == Path("/var/lib/glance/images")
    warnings = [r.getMessage() for r in caplog.records]
    assert any("some_unknown_option" in w for w in warnings)
    # [keystone_authtoken] is read by keystonemiddleware itself: no warnings.
    assert not any("[keystone_authtoken]" in w for w in warnings)
    assert settings.auth.legacy_auth_uri == "http://controller:5000"
    assert not any("123456" in w for w in warnings)


def test_later_files_override_earlier(tmp_path: Path) -> None:
    first = write(tmp_path, "[DEFAULT]\nbind_port = 1\n", "a.conf")
    second = write(tmp_path, "[DEFAULT]\nbind_port = 2\n", "b.conf")
    assert settings_from_files([first, second], tmp_path).server.bind_port == 2


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = settings_from_files([], tmp_path)
    assert settings.database.embedded
    assert settings.database.url == f"sqlite:///{tmp_path.resolve() / 'glint.db'}"
    assert settings.server.bind_port == 9292 and settings.auth.flavor == ""


@pytest.mark.parametrize("text,key", [
    ("[glance_store]\nstores = file,floppy\n", "[glance_store] stores"),
    ("[glance_store]\nstores = file\ndefault_store = http\n", "[glance_store] default_store"),
    ("[DEFAULT]\nbind_port = many\n", "[DEFAULT] bind_port"),
    ("[DEFAULT]\nhashing_algorithm = rot13\n", "[DEFAULT] hashing_algorithm"),
    ("[DEFAULT]\nshow_image_direct_url = maybe\n", "[DEFAULT] show_image_direct_url"),
    ("[database]\nconnection = oracle://x\n", "[database] connection"),
    ("[paste_deploy]\nflavor = bogus\n", "[paste_deploy] flavor"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_files([write(tmp_path, text)], tmp_path)
    assert str(raised.value).startswith(key)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        settings_from_files([tmp_path / "absent.conf"], tmp_path)


@pytest.mark.parametrize("given,expected", [
    ("mysql://u:p@h/db", "mysql+pymysql://u:p@h/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////var/lib/glance/glance.sqlite", "sqlite:////var/lib/glance/glance.sqlite"),
])
def test_database_urls(given: str, expected: str) -> None:
    assert database_url(given) == expected


def test_policy_and_protection_keys(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text('"get_images": "role:admin"\n')
    (tmp_path / "protect.conf").write_text("[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n")
    settings = settings_from_files([write(tmp_path, (
        "[paste_deploy]\nflavor = keystone+cachemanagement\n"
        "[oslo_policy]\nenforce_new_defaults = false\n"
        "[DEFAULT]\nproperty_protection_file = protect.conf\n"
        "property_protection_rule_format = policies\n"))], tmp_path)
    assert settings.auth.uses_keystone
    # policy.yaml beside the config file is found without being named, as in oslo.policy.
    assert settings.policy.policy_file == tmp_path.resolve() / "policy.yaml"
    assert settings.policy.property_protection_file == tmp_path.resolve() / "protect.conf"
    assert settings.policy.property_protection_rule_format == "policies"
    assert settings.policy.enforce_new_defaults is False


def test_missing_property_protection_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="property_protection_file"):
        settings_from_files([write(tmp_path, "[DEFAULT]\nproperty_protection_file = nope.conf\n")],
                            tmp_path)

