"""Build `Settings` from `glance-api.conf`-style INI files.

Glint reads Glance's own section and key names, so an operator's existing
glance-api.conf loads unchanged: keys Glint does not implement are ignored
with one warning each, and a bad value stops the start with one line that
names the key.
"""

from __future__ import annotations

import configparser
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from glint.config_lists import parse_list, parse_pairs
from glint.domain.quota import parse_storage_size
from glint.settings import (
    CACHE_DRIVERS,
    IMPORT_METHODS,
    KEYSTONE_FLAVORS,
    NOTIFICATION_DRIVERS,
    REFUSED_CACHE_DRIVERS,
    AuthSettings,
    CacheSettings,
    ConsoleSettings,
    DisplaySettings,
    FormatSettings,
    HealthcheckSettings,
    ImageLimitSettings,
    ImportSettings,
    ListingSettings,
    NotificationSettings,
    PolicySettings,
    QuotaSettings,
    ScrubSettings,
    ServerSettings,
    Settings,
    UploadSettings,
    embedded_settings,
)
from glint.stores.options import (
    RESERVED_STORE_PREFIX,
    STORE_TYPES,
    known_options,
)

log = logging.getLogger(__name__)

KNOWN_STORE_TYPES = STORE_TYPES
# Glance's paste flavors that Glint serves without token validation.
UNAUTHENTICATED_FLAVORS = ("", "caching", "cachemanagement")
AUTH_FLAVORS = (*UNAUTHENTICATED_FLAVORS, "trusted", *KEYSTONE_FLAVORS)
PROPERTY_PROTECTION_FORMATS = ("roles", "policies")
# Sections handed whole to a library that reads the same files itself.
PASSTHROUGH_SECTIONS = frozenset({"keystone_authtoken", "oslo_messaging_rabbit", "oslo_limit"})
# Where oslo.config looks for a relative policy_file after the config files' folders.
STANDARD_CONFIG_DIRS = (Path("/etc/glance"),)


class ConfigError(Exception):
    """A configuration value Glint cannot start with; the message names the key."""

    def __init__(self, section: str, key: str, problem: str) -> None:
        super().__init__(f"[{section}] {key}: {problem}")
        self.section = section
        self.key = key


def _storage_size(text: str) -> int:
    return parse_storage_size(text)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _integer(text: str) -> int:
    return int(text.strip())


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text.strip())
    if not value > 0:
        raise ValueError(f"must be a number of seconds above 0, got {text.strip()!r}")
    return value


def _query_parameters(text: str) -> str:
    """oslo.db's `connection_parameters`: `name=value&name=value`."""
    value = text.strip()
    for pair in filter(None, value.split("&")):
        name, sep, _ = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"expected name=value&name=value, got {pair!r}")
    return value


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port (0-65535), got {value}")
    return value


def _string(text: str) -> str:
    return text.strip()


def _optional_string(text: str) -> str | None:
    return text.strip() or None


def _optional_path(text: str) -> Path | None:
    return Path(text.strip()) if text.strip() else None


def _rule_format(text: str) -> str:
    value = text.strip().lower()
    if value not in PROPERTY_PROTECTION_FORMATS:
        raise ValueError(f"must be one of {', '.join(PROPERTY_PROTECTION_FORMATS)}, got {value!r}")
    return value


def _hash_algorithm(text: str) -> str:
    name = text.strip()
    if name not in hashlib.algorithms_available:
        raise ValueError(f"unknown hashing algorithm {name!r}")
    return name


def _cache_driver(text: str) -> str:
    name = text.strip()
    if name in REFUSED_CACHE_DRIVERS:
        raise ValueError(f"the {name!r} driver is not supported by Glint, whose cache state is "
                         "in the database the nodes share: use centralized_db")
    if name not in CACHE_DRIVERS:
        raise ValueError(f"unknown cache driver {name!r} (use centralized_db)")
    return name


def _enabled_backends(text: str) -> tuple[tuple[str, str], ...]:
    """`id:type,id:type` as glance_store reads [DEFAULT] enabled_backends."""
    pairs: list[tuple[str, str]] = []
    for item in parse_pairs(text):
        name, sep, store_type = (part.strip() for part in item.partition(":"))
        if not sep or not name or not store_type:
            raise ValueError(f"expected id:type, got {item!r}")
        if store_type not in STORE_TYPES:
            raise ValueError(f"unknown store type {store_type!r} for {name!r} "
                             f"(Glint knows: {', '.join(STORE_TYPES)})")
        if name.startswith(RESERVED_STORE_PREFIX):
            raise ValueError(f"{name!r}: ids starting with {RESERVED_STORE_PREFIX} are reserved")
        if name in (known for known, _ in pairs):
            raise ValueError(f"store id {name!r} appears twice")
        pairs.append((name, store_type))
    return tuple(pairs)


def _notification_drivers(text: str) -> tuple[str, ...]:
    drivers = parse_list(text.replace("\n", ","))
    for driver in drivers:
        if driver not in NOTIFICATION_DRIVERS:
            raise ValueError(f"unknown notification driver {driver!r} "
                             f"(use {', '.join(NOTIFICATION_DRIVERS)})")
    return drivers


def _retry(text: str) -> int:
    value = _integer(text)
    if value < -1:
        raise ValueError(f"must be -1 or more, got {value}")
    return value


def _import_methods(text: str) -> tuple[str, ...]:
    methods = parse_list(text)
    for method in methods:
        if method not in IMPORT_METHODS:
            raise ValueError(f"unknown import method {method!r} (use {', '.join(IMPORT_METHODS)})")
    return methods


def _ports(text: str) -> tuple[int, ...]:
    return tuple(_port(item) for item in parse_list(text))


def _staging_dir(text: str) -> Path | None:
    value = text.strip()
    if not value:
        return None
    if not value.startswith("file://"):
        raise ValueError(f"only file:// staging URIs are supported, got {value!r}")
    return Path(value[len("file://"):])


def _key_values(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in parse_pairs(text):
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"expected key:value pairs, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def database_url(text: str) -> str:
    """Map Glance-style connection URLs onto the drivers Glint ships with."""
    url = text.strip()
    if not url:
        raise ValueError("empty connection URL")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    drivers = {
        "mysql": "mysql+pymysql",
        "mariadb": "mysql+pymysql",
        "mariadb+pymysql": "mysql+pymysql",
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "postgresql+psycopg2": "postgresql+psycopg",
    }
    scheme = drivers.get(scheme, scheme)
    if scheme not in ("sqlite", "mysql+pymysql", "postgresql+psycopg"):
        raise ValueError(f"unsupported database {scheme!r} (use sqlite, mysql+pymysql or postgresql)")
    return f"{scheme}://{rest}"


Parser = Callable[[str], Any]

# (section, key) -> (settings group, attribute, parser)
KNOWN_KEYS: dict[tuple[str, str], tuple[str, str, Parser]] = {
    ("DEFAULT", "bind_host"): ("server", "bind_host", _string),
    ("DEFAULT", "bind_port"): ("server", "bind_port", _port),
    ("DEFAULT", "workers"): ("server", "workers", _positive),
    ("DEFAULT", "public_endpoint"): ("server", "public_endpoint", _optional_string),
    ("DEFAULT", "worker_self_reference_url"): (
        "server", "worker_self_reference_url", _optional_string,
    ),
    ("DEFAULT", "max_header_line"): ("server", "max_header_line", _positive),
    ("oslo_middleware", "max_request_body_size"): ("server", "max_request_body_size", _positive),
    ("DEFAULT", "client_socket_timeout"): ("server", "client_socket_timeout", _non_negative),
    ("DEFAULT", "upload_minimum_rate"): ("server", "upload_minimum_rate", _non_negative),
    ("DEFAULT", "upload_minimum_rate_window"): (
        "server", "upload_minimum_rate_window", _positive,
    ),
    ("DEFAULT", "image_size_cap"): ("upload", "image_size_cap", _non_negative),
    ("DEFAULT", "show_image_direct_url"): ("display", "show_image_direct_url", _boolean),
    ("DEFAULT", "show_multiple_locations"): ("display", "show_multiple_locations", _boolean),
    ("DEFAULT", "hashing_algorithm"): ("upload", "hashing_algorithm", _hash_algorithm),
    ("DEFAULT", "limit_param_default"): ("listing", "limit_param_default", _positive),
    ("DEFAULT", "api_limit_max"): ("listing", "api_limit_max", _positive),
    ("DEFAULT", "image_member_quota"): ("image_limits", "image_member_quota", _integer),
    ("DEFAULT", "image_property_quota"): ("image_limits", "image_property_quota", _integer),
    ("DEFAULT", "image_tag_quota"): ("image_limits", "image_tag_quota", _integer),
    ("DEFAULT", "image_location_quota"): ("image_limits", "image_location_quota", _integer),
    ("image_format", "disk_formats"): ("formats", "disk_formats", parse_list),
    ("image_format", "container_formats"): ("formats", "container_formats", parse_list),
    ("image_format", "require_image_format_match"): ("formats", "require_image_format_match", _boolean),
    ("image_format", "vmdk_allowed_types"): ("formats", "vmdk_allowed_types", parse_list),
    ("image_format", "gpt_safety_checks_nonfatal"): (
        "formats", "gpt_safety_checks_nonfatal", parse_list,
    ),
    ("DEFAULT", "validate_image_properties_with_metadefs"): (
        "image_limits", "validate_image_properties_with_metadefs", _boolean,
    ),
    ("DEFAULT", "delayed_delete"): ("scrub", "delayed_delete", _boolean),
    ("DEFAULT", "user_storage_quota"): ("quota", "user_storage_quota", _storage_size),
    ("DEFAULT", "use_keystone_limits"): ("quota", "use_keystone_limits", _boolean),
    ("DEFAULT", "scrub_time"): ("scrub", "scrub_time", _non_negative),
    ("DEFAULT", "wakeup_time"): ("scrub", "wakeup_time", _positive),
    ("DEFAULT", "scrub_pool_size"): ("scrub", "scrub_pool_size", _positive),
    ("DEFAULT", "scrub_in_serve"): ("scrub", "scrub_in_serve", _boolean),
    ("DEFAULT", "image_cache_dir"): ("cache", "image_cache_dir", _optional_path),
    ("DEFAULT", "image_cache_max_size"): ("cache", "image_cache_max_size", _non_negative),
    ("DEFAULT", "image_cache_stall_time"): ("cache", "image_cache_stall_time", _non_negative),
    ("DEFAULT", "image_cache_driver"): ("cache", "image_cache_driver", _cache_driver),
    ("DEFAULT", "cache_prefetcher_interval"): ("cache", "cache_prefetcher_interval", _positive),
    ("database", "connection"): ("database", "url", database_url),
    ("database", "connect_timeout"): ("database", "connect_timeout", _seconds),
    ("database", "statement_timeout"): ("database", "statement_timeout", _seconds),
    ("database", "max_pool_size"): ("database", "max_pool_size", _positive),
    ("database", "max_overflow"): ("database", "max_overflow", _non_negative),
    ("database", "pool_timeout"): ("database", "pool_timeout", _seconds),
    ("database", "connection_recycle_time"): ("database", "connection_recycle_time", _integer),
    ("database", "connection_parameters"): ("database", "connection_parameters", _query_parameters),
    ("DEFAULT", "enabled_import_methods"): ("imports", "enabled_import_methods", _import_methods),
    ("DEFAULT", "node_staging_uri"): ("imports", "staging_dir", _staging_dir),
    ("import_filtering_opts", "allowed_schemes"): ("imports", "allowed_schemes", parse_list),
    ("import_filtering_opts", "disallowed_schemes"): ("imports", "disallowed_schemes", parse_list),
    ("import_filtering_opts", "allowed_hosts"): ("imports", "allowed_hosts", parse_list),
    ("import_filtering_opts", "disallowed_hosts"): ("imports", "disallowed_hosts", parse_list),
    ("import_filtering_opts", "allowed_ports"): ("imports", "allowed_ports", _ports),
    ("import_filtering_opts", "disallowed_ports"): ("imports", "disallowed_ports", _ports),
    ("image_import_opts", "image_import_plugins"): (
        "imports", "image_import_plugins", parse_list,
    ),
    ("image_conversion", "output_format"): ("imports", "conversion_output_format", _string),
    ("inject_metadata_properties", "inject"): ("imports", "inject_metadata", _key_values),
    ("inject_metadata_properties", "ignore_user_roles"): (
        "imports", "inject_ignore_user_roles", parse_list,
    ),
    ("task", "task_time_to_live"): ("imports", "task_time_to_live", _positive),
    ("glance_download_properties", "extra_properties"): (
        "imports", "glance_download_properties", parse_list,
    ),
    ("glance_store", "stores"): ("store", "stores", parse_list),
    ("glance_store", "default_store"): ("store", "default_store", _string),
    ("glance_store", "filesystem_store_datadir"): ("store", "filesystem_store_datadir", Path),
    ("glance_store", "default_backend"): ("store", "default_backend", _optional_string),
    ("DEFAULT", "enabled_backends"): ("store", "enabled_backends", _enabled_backends),
    ("paste_deploy", "flavor"): ("auth", "flavor", _string),
    ("keystone_authtoken", "auth_uri"): ("auth", "legacy_auth_uri", _optional_string),
    ("keystone_authtoken", "www_authenticate_uri"): ("auth", "www_authenticate_uri", _optional_string),
    ("oslo_policy", "policy_file"): ("policy", "policy_file", _optional_path),
    ("oslo_policy", "enforce_scope"): ("policy", "enforce_scope", _boolean),
    ("oslo_policy", "enforce_new_defaults"): ("policy", "enforce_new_defaults", _boolean),
    ("DEFAULT", "property_protection_file"): ("policy", "property_protection_file", _optional_path),
    ("DEFAULT", "property_protection_rule_format"): (
        "policy", "property_protection_rule_format", _rule_format
    ),
    ("healthcheck", "disable_by_file_path"): (
        "healthcheck", "disable_by_file_path", lambda text: Path(text.strip()) if text.strip() else None
    ),
    ("healthcheck", "detailed"): ("healthcheck", "detailed", _boolean),
    ("console", "enabled"): ("console", "enabled", _boolean),
    ("console", "keystone_url"): ("console", "keystone_url", _optional_string),
    ("console", "session_lifetime"): ("console", "session_lifetime", _positive),
    ("oslo_messaging_notifications", "driver"): ("notifications", "drivers", _notification_drivers),
    ("oslo_messaging_notifications", "topics"): ("notifications", "topics", parse_list),
    ("oslo_messaging_notifications", "transport_url"): (
        "notifications", "transport_url", _optional_string,
    ),
    ("oslo_messaging_notifications", "retry"): ("notifications", "retry", _retry),
    ("DEFAULT", "transport_url"): ("notifications", "default_transport_url", _optional_string),
    ("DEFAULT", "default_publisher_id"): ("notifications", "publisher_id", _string),
    ("DEFAULT", "disabled_notifications"): ("notifications", "disabled", parse_list),
    ("DEFAULT", "notification_queue_size"): ("notifications", "queue_size", _positive),
}

# Keys Glint reads as Glance does but that need no setting of their own.
QUIET_KEYS = {("healthcheck", "backends"), ("paste_deploy", "config_file")}


class _RepeatableOptions(dict[str, Any]):
    """Options of a section; glance_store's multi-valued options may be repeated
    on several lines of one file (oslo.config MultiStrOpt), and keep every value."""

    # oslo.messaging's notification `driver` is a multi-valued option too.
    REPEATABLE = frozenset({"filesystem_store_datadirs", "driver"})

    def __setitem__(self, key: str, value: Any) -> None:
        # configparser stores each line read as a list, joined once the file is read.
        if key in self.REPEATABLE and isinstance(value, list) and isinstance(self.get(key), list):
            self[key].extend(value)
            return
        super().__setitem__(key, value)


def read_files(paths: Iterable[Path]) -> configparser.RawConfigParser:
    """Parse the files in order; later files override earlier ones, as oslo.config does."""
    parser = configparser.RawConfigParser(default_section="\x00none", strict=False,
                                          dict_type=_RepeatableOptions)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                parser.read_file(handle, source=str(path))
        except OSError as exc:
            raise ConfigError("--config-file", str(path), f"cannot read: {exc.strerror}") from exc
        except configparser.Error as exc:
            raise ConfigError("--config-file", str(path), f"not an INI file: {exc}") from exc
    return parser


def settings_from_files(paths: list[Path], data_dir: Path) -> Settings:
    """Settings from config files layered over the embedded defaults under `data_dir`."""
    settings = embedded_settings(data_dir)
    groups: dict[str, dict[str, Any]] = {
        "server": {}, "upload": {}, "formats": {}, "listing": {}, "display": {},
        "image_limits": {}, "database": {}, "store": {}, "auth": {}, "healthcheck": {},
        "policy": {}, "imports": {}, "console": {}, "scrub": {}, "cache": {},
        "notifications": {}, "quota": {},
    }
    parser = read_files(paths)
    store_sections = _store_section_types(parser)
    raw_store_options: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        for key, raw in parser.items(section):
            if section in store_sections:
                raw_store_options.setdefault(section, {})[key] = raw
            known = KNOWN_KEYS.get((section, key))
            if known is None:
                if section in store_sections and key in known_options(store_sections[section]):
                    continue
                if (section, key) not in QUIET_KEYS and section not in PASSTHROUGH_SECTIONS:
                    log.warning("ignoring [%s] %s: Glint does not use this option", section, key)
                continue
            group, attribute, parse = known
            try:
                groups[group][attribute] = parse(raw)
            except ValueError as exc:
                raise ConfigError(section, key, str(exc)) from exc
    groups["store"]["sections"] = raw_store_options
    settings = Settings(
        # Only a connection of its own makes the database not the embedded one.
        database=replace(settings.database, **groups["database"],
                         embedded=settings.database.embedded and "url" not in groups["database"]),
        server=replace(ServerSettings(), **groups["server"]),
        upload=replace(UploadSettings(), **groups["upload"]),
        formats=replace(FormatSettings(), **groups["formats"]),
        listing=replace(ListingSettings(), **groups["listing"]),
        display=replace(DisplaySettings(), **groups["display"]),
        image_limits=replace(ImageLimitSettings(), **groups["image_limits"]),
        store=replace(settings.store, **groups["store"]),
        auth=replace(AuthSettings(), **groups["auth"], config_files=tuple(paths)),
        policy=_resolve_policy_paths(replace(PolicySettings(), **groups["policy"]), paths),
        healthcheck=replace(HealthcheckSettings(), **groups["healthcheck"]),
        imports=replace(ImportSettings(), **groups["imports"]),
        console=replace(ConsoleSettings(), **groups["console"]),
        scrub=replace(ScrubSettings(), **groups["scrub"]),
        cache=replace(CacheSettings(), **groups["cache"]),
        notifications=replace(NotificationSettings(), **groups["notifications"],
                              config_files=tuple(paths)),
        quota=replace(QuotaSettings(), **groups["quota"], config_files=tuple(paths)),
    )
    validate(settings)
    return settings


def _store_section_types(parser: configparser.RawConfigParser) -> dict[str, str | None]:
    """Sections holding store options, with the store type each configures
    (None for [glance_store], which may configure any type)."""
    sections: dict[str, str | None] = {"glance_store": None}
    raw = parser.get("DEFAULT", "enabled_backends", fallback="")
    try:
        backends = _enabled_backends(raw)
    except ValueError as exc:
        raise ConfigError("DEFAULT", "enabled_backends", str(exc)) from exc
    for name, store_type in backends:
        sections[name] = store_type
    for section in parser.sections():
        if section.startswith(RESERVED_STORE_PREFIX):
            sections[section] = "file"
    return sections


def find_config_file(name: Path, config_files: list[Path]) -> Path | None:
    """A file named relative to the config files' folders, then /etc/glance,
    as oslo.config's find_file looks for it; absolute names as given."""
    if name.is_absolute():
        return name if name.exists() else None
    folders = [p.resolve().parent for p in config_files] + list(STANDARD_CONFIG_DIRS)
    for folder in folders:
        if (folder / name).exists():
            return folder / name
    return None


def _resolve_policy_paths(policy: PolicySettings, config_files: list[Path]) -> PolicySettings:
    """Absolute paths for the policy and property protection files.

    A missing policy file means Glance's defaults, as in oslo.policy; a
    missing property protection file stops the start, as in Glance.
    """
    policy_file = None
    if policy.policy_file is None and config_files:
        # oslo.policy's default name, looked up the same way.
        policy_file = find_config_file(Path("policy.yaml"), config_files)
    elif policy.policy_file is not None:
        policy_file = find_config_file(policy.policy_file, config_files)
        if policy_file is None:
            log.warning("[oslo_policy] policy_file %s not found: using the default rules",
                        policy.policy_file)
    protections = None
    if policy.property_protection_file is not None:
        protections = find_config_file(policy.property_protection_file, config_files)
        if protections is None:
            raise ConfigError("DEFAULT", "property_protection_file",
                              f"cannot find {policy.property_protection_file}")
    return replace(policy, policy_file=policy_file, property_protection_file=protections)


def _validate_multistore(settings: Settings) -> None:
    ids = [name for name, _ in settings.store.enabled_backends]
    default = settings.store.default_backend
    if default is None:
        raise ConfigError("glance_store", "default_backend",
                          "required with [DEFAULT] enabled_backends (one of "
                          + ", ".join(ids) + ")")
    if default not in ids:
        raise ConfigError("glance_store", "default_backend",
                          f"{default!r} is not one of enabled_backends ({', '.join(ids)})")
    if dict(settings.store.enabled_backends)[default] == "http":
        raise ConfigError("glance_store", "default_backend", "the http store is read-only")


def _validate_single_store(settings: Settings) -> None:
    for store in settings.store.stores:
        if store not in KNOWN_STORE_TYPES:
            raise ConfigError(
                "glance_store", "stores",
                f"unknown store {store!r} (Glint knows: {', '.join(KNOWN_STORE_TYPES)})",
            )
    if settings.store.default_store not in settings.store.stores:
        raise ConfigError(
            "glance_store", "default_store",
            f"{settings.store.default_store!r} is not one of stores = {','.join(settings.store.stores)}",
        )
    if settings.store.default_store == "http":
        raise ConfigError("glance_store", "default_store", "the http store is read-only")


def validate(settings: Settings) -> None:
    """Cross-key checks; raises ConfigError naming the offending key."""
    if settings.store.multistore:
        _validate_multistore(settings)
    else:
        _validate_single_store(settings)
    if settings.auth.flavor not in AUTH_FLAVORS:
        raise ConfigError(
            "paste_deploy", "flavor",
            f"{settings.auth.flavor!r} is not supported (use one of: "
            + ", ".join(repr(f) for f in AUTH_FLAVORS) + ")",
        )
