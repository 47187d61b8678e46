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
    assert settings.display.show_image_direct_url is True
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


def test_database_limits(tmp_path: Path) -> None:
    defaults = settings_from_files([], tmp_path).database
    assert (defaults.connect_timeout, defaults.statement_timeout, defaults.pool_timeout) == (3, 5, 5)
    assert (defaults.max_pool_size, defaults.max_overflow) == (10, 20)
    text = """
[database]
connect_timeout = 1.5
statement_timeout = 30
max_pool_size = 4
max_overflow = 0
pool_timeout = 2
connection_recycle_time = 600
connection_parameters = charset=utf8mb4&program_name=glint
[healthcheck]
detailed = true
"""
    settings = settings_from_files([write(tmp_path, text)], tmp_path)
    database = settings.database
    assert (database.connect_timeout, database.statement_timeout) == (1.5, 30)
    assert (database.max_pool_size, database.max_overflow, database.pool_timeout) == (4, 0, 2)
    assert database.connection_recycle_time == 600
    assert database.connection_parameters == "charset=utf8mb4&program_name=glint"
    assert settings.healthcheck.detailed is True
    # Limits alone keep the embedded database (and its self-migration).
    assert database.embedded and database.url == defaults.url


@pytest.mark.parametrize("text,key", [
    ("[glance_store]\nstores = file,floppy\n", "[glance_store] stores"),
    ("[glance_store]\nstores = file\ndefault_store = http\n", "[glance_store] default_store"),
    ("[DEFAULT]\nbind_port = many\n", "[DEFAULT] bind_port"),
    ("[DEFAULT]\nhashing_algorithm = rot13\n", "[DEFAULT] hashing_algorithm"),
    ("[DEFAULT]\nshow_image_direct_url = maybe\n", "[DEFAULT] show_image_direct_url"),
    ("[database]\nconnection = oracle://x\n", "[database] connection"),
    ("[paste_deploy]\nflavor = bogus\n", "[paste_deploy] flavor"),
    ("[database]\nstatement_timeout = 0\n", "[database] statement_timeout"),
    ("[database]\nconnect_timeout = soon\n", "[database] connect_timeout"),
    ("[database]\nmax_pool_size = 0\n", "[database] max_pool_size"),
    ("[database]\nconnection_parameters = charset\n", "[database] connection_parameters"),
    ("[healthcheck]\ndetailed = very\n", "[healthcheck] detailed"),
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



# One sample per list or dict option Glint reads: items as `a, b` and `[a, b]`
# must give the same setting (Glance requires the brackets for some keys).
LIST_SAMPLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("image_format", "disk_formats"): ("raw", "qcow2"),
    ("image_format", "container_formats"): ("bare", "ovf"),
    ("image_format", "vmdk_allowed_types"): ("streamOptimized", "monolithicSparse"),
    ("image_format", "gpt_safety_checks_nonfatal"): ("mbr", "gpt"),
    ("DEFAULT", "enabled_import_methods"): ("glance-direct", "web-download"),
    ("import_filtering_opts", "allowed_schemes"): ("http", "https"),
    ("import_filtering_opts", "disallowed_schemes"): ("ftp", "file"),
    ("import_filtering_opts", "allowed_hosts"): ("images.example.org", "10.0.0.1"),
    ("import_filtering_opts", "disallowed_hosts"): ("evil.example.org", "192.0.2.1"),
    ("import_filtering_opts", "allowed_ports"): ("80", "8080"),
    ("import_filtering_opts", "disallowed_ports"): ("22", "3306"),
    ("image_import_opts", "image_import_plugins"): ("image_decompression", "image_conversion"),
    ("inject_metadata_properties", "ignore_user_roles"): ("admin", "service"),
    ("glance_download_properties", "extra_properties"): ("hw_", "os_distro"),
    ("glance_store", "stores"): ("file", "http"),
    ("oslo_messaging_notifications", "driver"): ("messagingv2", "log"),
    ("oslo_messaging_notifications", "topics"): ("notifications", "audit"),
    ("DEFAULT", "disabled_notifications"): ("image.create", "metadef_tag"),
}
DICT_SAMPLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("inject_metadata_properties", "inject"): ("a:1", "b:two"),
    ("DEFAULT", "enabled_backends"): ("fast:file", "web:http"),
}
# Keys that need others beside them to load.
COMPANIONS: dict[tuple[str, str], str] = {
    ("DEFAULT", "enabled_backends"): "[glance_store]\ndefault_backend = fast\n",
}


def _list_keys() -> set[tuple[str, str]]:
    from glint import config_file

    list_parsers = {config_file.parse_list, config_file._ports, config_file._import_methods,
                    config_file._key_values, config_file._enabled_backends,
                    config_file._notification_drivers}
    return {key for key, (_, _, parse) in config_file.KNOWN_KEYS.items() if parse in list_parsers}


def test_every_list_option_has_a_sample() -> None:
    assert _list_keys() == set(LIST_SAMPLES) | set(DICT_SAMPLES)


def _loaded(tmp_path: Path, key: tuple[str, str], value: str) -> object:
    from glint.config_file import KNOWN_KEYS

    section, name = key
    text = f"[{section}]\n{name} = {value}\n" + COMPANIONS.get(key, "")
    settings = settings_from_files([write(tmp_path, text)], tmp_path)
    group, attribute, _ = KNOWN_KEYS[key]
    return getattr(getattr(settings, group), attribute)


@pytest.mark.parametrize("key", sorted(LIST_SAMPLES))
def test_list_options_take_both_spellings(tmp_path: Path, key: tuple[str, str]) -> None:
    items = LIST_SAMPLES[key]
    bare = _loaded(tmp_path, key, ", ".join(items))
    assert bare == tuple(int(i) for i in items) if key[1].endswith("_ports") else bare == items
    for spelling in (f"[{', '.join(items)}]", "[" + ",".join(f"'{i}'" for i in items) + "]",
                     f"  [ {' , '.join(items)} ]  ", f"{','.join(items)},"):
        assert _loaded(tmp_path, key, spelling) == bare, spelling


@pytest.mark.parametrize("key", sorted(DICT_SAMPLES))
def test_dict_options_take_braces_too(tmp_path: Path, key: tuple[str, str]) -> None:
    items = DICT_SAMPLES[key]
    bare = _loaded(tmp_path, key, ", ".join(items))
    assert bare == tuple(tuple(i.split(":")) for i in items)
    assert _loaded(tmp_path, key, "{" + ", ".join(items) + "}") == bare


@pytest.mark.parametrize("value", ["[80, 443", "80, 443]", "[http"])
def test_unbalanced_brackets_name_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"^\[import_filtering_opts\] allowed_ports: unbalanced"):
        _loaded(tmp_path, ("import_filtering_opts", "allowed_ports"), value)


def test_empty_brackets_are_an_empty_list(tmp_path: Path) -> None:
    assert _loaded(tmp_path, ("import_filtering_opts", "allowed_hosts"), "[]") == ()


def test_request_limit_keys(tmp_path: Path) -> None:
    defaults = settings_from_files([], tmp_path)
    assert defaults.server.max_request_body_size == 114_688
    assert defaults.server.max_header_line == 16_384
    settings = settings_from_files([write(tmp_path, "[oslo_middleware]\nmax_request_body_size = 2048\n"
                                                    "[DEFAULT]\nmax_header_line = 32768\n")], tmp_path)
    assert settings.server.max_request_body_size == 2048
    assert settings.server.max_header_line == 32_768
    with pytest.raises(ConfigError, match=r"^\[oslo_middleware\] max_request_body_size"):
        settings_from_files([write(tmp_path, "[oslo_middleware]\nmax_request_body_size = 0\n")],
                            tmp_path)


def test_console_keys(tmp_path: Path) -> None:
    assert settings_from_files([], tmp_path).console.enabled is True
    settings = settings_from_files([write(tmp_path, "[console]\nenabled = false\n"
                                                    "keystone_url = http://keystone:5000/v3\n"
                                                    "session_lifetime = 600\n")], tmp_path)
    assert settings.console.enabled is False
    assert settings.console.keystone_url == "http://keystone:5000/v3"
    assert settings.console.session_lifetime == 600


def test_quota_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    defaults = settings_from_files([], tmp_path)
    assert defaults.quota.user_storage_quota == 0
    assert not defaults.quota.use_keystone_limits
    path = write(tmp_path, "[DEFAULT]\nuser_storage_quota = 10GB\nuse_keystone_limits = True\n"
                           "[oslo_limit]\nendpoint_id = abc\nauth_type = password\n")
    with caplog.at_level(logging.WARNING):
        settings = settings_from_files([path], tmp_path)
    assert settings.quota.user_storage_quota == 10 << 30
    assert settings.quota.use_keystone_limits
    assert settings.quota.config_files == (path,)
    assert "oslo_limit" not in caplog.text
    with pytest.raises(ConfigError, match=r"^\[DEFAULT\] user_storage_quota"):
        settings_from_files([write(tmp_path, "[DEFAULT]\nuser_storage_quota = lots\n")], tmp_path)


def test_notification_options_as_glance_reads_them(tmp_path: Path) -> None:
    path = write(tmp_path, "[DEFAULT]\ntransport_url = rabbit://a:b@bus:5672/\n"
                           "default_publisher_id = image.node1\n"
                           "notification_queue_size = 50\n"
                           "[oslo_messaging_notifications]\ndriver = messagingv2\n"
                           "driver = log\nretry = 0\n")
    notifications = settings_from_files([path], tmp_path).notifications
    # driver is repeatable, as oslo.config's MultiStrOpt.
    assert notifications.drivers == ("messagingv2", "log") and notifications.enabled
    assert notifications.default_transport_url == "rabbit://a:b@bus:5672/"
    assert notifications.transport_url is None and notifications.retry == 0
    assert notifications.publisher_id == "image.node1" and notifications.queue_size == 50
    assert notifications.config_files == (path,)
    assert not settings_from_files([write(tmp_path, "")], tmp_path).notifications.enabled
    noop = write(tmp_path, "[oslo_messaging_notifications]\ndriver = noop\n")
    assert not settings_from_files([noop], tmp_path).notifications.enabled


def test_an_unknown_notification_driver_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[oslo_messaging_notifications]\ndriver = kafka\n")
    with pytest.raises(ConfigError, match=r"^\[oslo_messaging_notifications\] driver: unknown"):
        settings_from_files([path], tmp_path)
