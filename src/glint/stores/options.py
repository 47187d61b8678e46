"""Store configuration as glance_store names it, before any driver is loaded.

A single-store deployment (`[glance_store] stores`, `default_store`) reads
every store's options from `[glance_store]`; a multi-store one
(`[DEFAULT] enabled_backends = id:type,...`, `[glance_store]
default_backend`) reads each store's options from the section named by its
id. Either way the result is a list of `BackendConfig`, and a single store
is simply a list of one writable store (plus the read-only http store).

This module imports nothing heavy: config loading in every server worker
uses it. Values are kept as text and parsed by the driver that owns them,
so a bad value is reported as `[section] key: problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from glint.config_lists import parse_list, parse_pairs
from glint.settings import StoreSettings

STORE_TYPES = ("file", "http", "s3", "swift", "rbd")

# Options every store section may carry (glance_store's multi-store options).
COMMON_OPTIONS = frozenset({"store_description", "weight"})

OPTIONS_BY_TYPE: dict[str, frozenset[str]] = {
    "file": frozenset({
        "filesystem_store_datadir", "filesystem_store_datadirs", "filesystem_store_file_perm",
        "filesystem_store_chunk_size", "filesystem_store_metadata_file",
        "filesystem_thin_provisioning",
    }),
    "http": frozenset({"https_ca_certificates_file", "https_insecure", "http_proxy_information"}),
    "s3": frozenset({
        "s3_store_host", "s3_store_access_key", "s3_store_secret_key", "s3_store_bucket",
        "s3_store_create_bucket_on_put", "s3_store_bucket_url_format",
        "s3_store_large_object_size", "s3_store_large_object_chunk_size",
        "s3_store_thread_pools", "s3_store_region_name", "s3_store_cacert",
    }),
    "swift": frozenset({
        "swift_store_auth_address", "swift_store_user", "swift_store_key",
        "swift_store_auth_version", "swift_store_container",
        "swift_store_create_container_on_put", "swift_store_large_object_size",
        "swift_store_large_object_chunk_size", "swift_store_auth_insecure",
        "swift_store_cacert", "swift_store_region", "swift_store_multi_tenant",
        "swift_store_config_file", "default_swift_reference", "swift_store_endpoint",
        "swift_store_endpoint_type", "swift_store_service_type",
    }),
    "rbd": frozenset({
        "rbd_store_pool", "rbd_store_user", "rbd_store_ceph_conf", "rbd_store_chunk_size",
        "rados_connect_timeout", "rbd_thin_provisioning",
    }),
}

# Keys of [glance_store] that are about choosing stores, not configuring one.
SELECTION_OPTIONS = frozenset({"stores", "default_store", "default_backend"})

# Glance's reserved stores for staging and tasks; configured like file stores.
RESERVED_STORE_PREFIX = "os_glance_"


def known_options(store_type: str | None) -> frozenset[str]:
    """Option names a section for a store of `store_type` may hold (None: any type)."""
    if store_type is None:
        every = frozenset().union(*OPTIONS_BY_TYPE.values())
        return every | COMMON_OPTIONS | SELECTION_OPTIONS
    return OPTIONS_BY_TYPE.get(store_type, frozenset()) | COMMON_OPTIONS


class OptionError(ValueError):
    """A store option with a value Glint cannot use; names section and key."""

    def __init__(self, section: str, key: str, problem: str) -> None:
        super().__init__(f"[{section}] {key}: {problem}")
        self.section = section
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class BackendConfig:
    """One configured store: its id, driver type and raw options."""

    name: str
    type: str
    section: str
    options: Mapping[str, str] = field(default_factory=dict)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.options.get(key)
        if value is None or not value.strip():
            return default
        return value.strip()

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise OptionError(self.section, key, f"the {self.type} store {self.name!r} needs it")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise OptionError(self.section, key, f"expected an integer, got {raw!r}") from None
        if value < minimum:
            raise OptionError(self.section, key, f"must be {minimum} or more, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.text(key)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise OptionError(self.section, key, f"expected true or false, got {raw!r}")

    def listing(self, key: str, *, pairs: bool = False) -> list[str]:
        """A multi-valued option: a list (`a, b` or `[a, b]`), or with `pairs` a
        dict option's `key:value` items (`a:b` or `{a:b}`), on one or more lines.
        Raises OptionError."""
        parse = parse_pairs if pairs else parse_list
        try:
            return [item for line in self.options.get(key, "").splitlines()
                    for item in parse(line)]
        except ValueError as exc:
            raise OptionError(self.section, key, str(exc)) from None

    def path(self, key: str, default: Path) -> Path:
        raw = self.text(key)
        return Path(raw) if raw is not None else default

    @property
    def description(self) -> str | None:
        return self.text("store_description")

    @property
    def weight(self) -> int:
        raw = self.text("weight")
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            raise OptionError(self.section, "weight", f"expected an integer, got {raw!r}") from None


def backends_of(settings: StoreSettings) -> list[BackendConfig]:
    """Every configured store, in configuration order."""
    if settings.multistore:
        found = []
        for name, store_type in settings.enabled_backends:
            options = dict(settings.sections.get(name, {}))
            if store_type == "file" and not (options.get("filesystem_store_datadir")
                                             or options.get("filesystem_store_datadirs")):
                # glance_store's default is one shared folder; one per store is safer.
                options["filesystem_store_datadir"] = str(settings.filesystem_store_datadir / name)
            found.append(BackendConfig(name=name, type=store_type, section=name, options=options))
        return found
    shared = dict(settings.sections.get("glance_store", {}))
    shared["filesystem_store_datadir"] = str(settings.filesystem_store_datadir)
    return [BackendConfig(name=store_type, type=store_type, section="glance_store", options=shared)
            for store_type in settings.stores]


def default_store_of(settings: StoreSettings) -> str:
    """The id of the store new data goes to when the client names none."""
    if settings.multistore:
        return settings.default_backend or ""
    return settings.default_store
