"""One typed settings tree, built once at start and passed down.

Values come from `glance-api.conf`-style files (see `glint.config_file`) and
command-line overrides; nothing here reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DISK_FORMATS = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)
DEFAULT_CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
ONE_TIB = 1 << 40


@dataclass(frozen=True)
class ServerSettings:
    bind_host: str = "127.0.0.1"
    bind_port: int = 9292
    workers: int = 1
    public_endpoint: str | None = None
    # This worker's own URL, recorded on images it stages (os_glance_stage_host).
    worker_self_reference_url: str | None = None
    # Longest request header line accepted, in bytes (Glance's eventlet-era key).
    max_header_line: int = 16_384
    # Image data bodies (PUT /file, /stage): seconds a read may bring no byte
    # (0: no limit), and the rate they must keep over a window (0: no minimum).
    client_socket_timeout: int = 900
    upload_minimum_rate: int = 1024
    upload_minimum_rate_window: int = 60
    # `[oslo_middleware] max_request_body_size`: JSON bodies only, never image data.
    max_request_body_size: int = 114_688


@dataclass(frozen=True)
class UploadSettings:
    """Image data coming in (upload, stage, import, locations): `[DEFAULT]
    image_size_cap` and `hashing_algorithm`."""

    image_size_cap: int = ONE_TIB
    hashing_algorithm: str = "sha512"


@dataclass(frozen=True)
class FormatSettings:
    """`[image_format]`: the formats an image may declare, and how its data is inspected."""

    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS
    require_image_format_match: bool = True
    vmdk_allowed_types: tuple[str, ...] = ("streamOptimized", "monolithicSparse")
    gpt_safety_checks_nonfatal: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListingSettings:
    """Pages of lists: `[DEFAULT] limit_param_default` and `api_limit_max`."""

    limit_param_default: int = 25
    api_limit_max: int = 1000


@dataclass(frozen=True)
class DisplaySettings:
    """What an image shows of its locations: `[DEFAULT] show_image_direct_url`
    and `show_multiple_locations`."""

    show_image_direct_url: bool = False
    show_multiple_locations: bool = False


@dataclass(frozen=True)
class ImageLimitSettings:
    """What one image's metadata may hold: `[DEFAULT] image_*_quota` (counts
    per image; negative: no limit) and Glint's own
    `validate_image_properties_with_metadefs` (check image properties against
    the OS::Glance::Image metadefs)."""

    image_member_quota: int = 128
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_location_quota: int = 10
    validate_image_properties_with_metadefs: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    """`[database]`: the connection, the pool (oslo.db's keys) and how long a
    database call may take (Glint's own keys), so an outage answers 503 fast."""

    url: str
    # True when the URL is Glint's embedded default, which may migrate itself.
    embedded: bool = False
    # Seconds to establish a connection (and to answer a ping on a pooled one).
    connect_timeout: float = 3.0
    # Seconds a statement may run, enforced by the server and, a little
    # later, by the client; SQLite's lock waits. Not applied to migrations.
    statement_timeout: float = 5.0
    max_pool_size: int = 10
    max_overflow: int = 20
    # Seconds to wait for a pooled connection when all are in use.
    pool_timeout: float = 5.0
    connection_recycle_time: int = 3600
    # oslo.db's `connection_parameters`: `a=1&b=2` added to the URL's query.
    connection_parameters: str = ""


@dataclass(frozen=True)
class StoreSettings:
    """Stores as glance_store configures them.

    Single store: `stores` and `default_store`, options in `[glance_store]`.
    Multi-store: `enabled_backends` as (id, type) pairs and `default_backend`,
    each store's options in the section named by its id. `sections` holds
    the raw text of every store section read (see glint.stores.options).
    """

    stores: tuple[str, ...] = ("file", "http")
    default_store: str = "file"
    filesystem_store_datadir: Path = Path("data/images")
    enabled_backends: tuple[tuple[str, str], ...] = ()
    default_backend: str | None = None
    sections: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def multistore(self) -> bool:
        return bool(self.enabled_backends)


KEYSTONE_FLAVORS = ("keystone", "keystone+caching", "keystone+cachemanagement")


@dataclass(frozen=True)
class AuthSettings:
    """`[paste_deploy] flavor`: "" (no auth, admin context), "trusted", or one of
    Glance's keystone flavors (tokens validated by keystonemiddleware).

    With a keystone flavor, keystonemiddleware reads `[keystone_authtoken]`
    from `config_files` itself, exactly as under Glance.
    """

    flavor: str = ""
    config_files: tuple[Path, ...] = ()
    www_authenticate_uri: str | None = None
    # The older name `auth_uri`, which keystonemiddleware no longer reads.
    legacy_auth_uri: str | None = None

    @property
    def uses_keystone(self) -> bool:
        return self.flavor in KEYSTONE_FLAVORS


@dataclass(frozen=True)
class PolicySettings:
    """`[oslo_policy]` and Glance's property protection keys."""

    policy_file: Path | None = None
    enforce_scope: bool = True
    enforce_new_defaults: bool = True
    property_protection_file: Path | None = None
    property_protection_rule_format: str = "roles"


DEFAULT_IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")


@dataclass(frozen=True)
class ImportSettings:
    """Interoperable import: `[DEFAULT] enabled_import_methods`, `node_staging_uri`,
    `[import_filtering_opts]` and `[image_import_opts]`."""

    enabled_import_methods: tuple[str, ...] = DEFAULT_IMPORT_METHODS
    # None: a "staging" folder beside the filesystem store's folder.
    staging_dir: Path | None = None
    allowed_schemes: tuple[str, ...] = ("http", "https")
    disallowed_schemes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disallowed_hosts: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (80, 443)
    disallowed_ports: tuple[int, ...] = ()
    image_import_plugins: tuple[str, ...] = ("no_op",)
    conversion_output_format: str = "raw"
    inject_metadata: tuple[tuple[str, str], ...] = ()
    inject_ignore_user_roles: tuple[str, ...] = ("admin",)
    # `[task] task_time_to_live`: hours a finished task stays listed.
    task_time_to_live: int = 48
    # `[glance_download_properties] extra_properties`: prefixes of the remote
    # image's properties glance-download copies.
    glance_download_properties: tuple[str, ...] = (
        "hw_", "trait:", "os_distro", "os_secure_boot", "os_type",
    )


@dataclass(frozen=True)
class HealthcheckSettings:
    """oslo.middleware's `[healthcheck]` keys."""

    disable_by_file_path: Path | None = None
    # Show every check with its details (and the process's state), not just the reasons.
    detailed: bool = False


@dataclass(frozen=True)
class ConsoleSettings:
    """`[console]`, Glint's own: the web console at /console (glint.api.console)."""

    enabled: bool = True
    # Where the console asks Keystone for tokens (keystone flavors); None: the
    # `[keystone_authtoken] www_authenticate_uri` (or `auth_uri`).
    keystone_url: str | None = None
    # Longest a console session lasts, in seconds; a Keystone token's own
    # expiry ends it sooner.
    session_lifetime: int = 8 * 3600


@dataclass(frozen=True)
class ScrubSettings:
    """Delayed delete and the scrubber's `[DEFAULT]` keys (Glance's), and whether
    `glint serve` runs it."""

    # Seconds an image stays in pending_delete before its data is deleted.
    scrub_time: int = 0
    # Seconds between two passes of `glint scrubber --daemon` (and of `glint serve`).
    wakeup_time: int = 300
    # How many locations are deleted at once.
    scrub_pool_size: int = 1
    # Glint's own: `glint serve` runs the scrubber's passes itself.
    scrub_in_serve: bool = False
    # `[DEFAULT] delayed_delete`: DELETE leaves an image with data in
    # pending_delete, its data kept until the scrubber removes it.
    delayed_delete: bool = False


CACHE_DRIVERS = ("centralized_db",)
# Glance's other drivers, refused by name: Glint keeps cache state in the
# database the nodes share, which is what `centralized_db` means.
REFUSED_CACHE_DRIVERS = ("sqlite", "xattr")


@dataclass(frozen=True)
class CacheSettings:
    """The image cache's `[DEFAULT]` keys (Glance's): on when `image_cache_dir` is set."""

    image_cache_dir: Path | None = None
    # Bytes the cache may hold on this node; never exceeded (LRU eviction at admission).
    image_cache_max_size: int = 10 * (1 << 30)
    # Seconds an incomplete entry may sit before the cleaner removes it.
    image_cache_stall_time: int = 86400
    image_cache_driver: str = "centralized_db"
    # Seconds between two passes of the prefetcher (and of the pruner and cleaner).
    cache_prefetcher_interval: int = 300

    @property
    def enabled(self) -> bool:
        return self.image_cache_dir is not None
# oslo.messaging's notification drivers that Glint sends through.
NOTIFICATION_DRIVERS = ("messagingv2", "messaging", "log", "noop")


@dataclass(frozen=True)
class NotificationSettings:
    """`[oslo_messaging_notifications]` and Glance's `[DEFAULT]` notification keys."""

    # oslo.messaging drivers; none (Glance's default) or only `noop` sends nothing.
    drivers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ("notifications",)
    # `[oslo_messaging_notifications] transport_url`, else `[DEFAULT] transport_url`;
    # None: oslo.messaging's default (rabbit on localhost).
    transport_url: str | None = None
    default_transport_url: str | None = None
    # Times oslo.messaging tries again to send one notification (-1: forever, as
    # it would block the sender; Glint's default gives up after a few tries).
    retry: int = 2
    publisher_id: str = "image.localhost"
    # Event types (`image.create`) and groups (`image`, `metadef_tag`) not sent.
    disabled: tuple[str, ...] = ()
    # Notifications waiting to be sent, per process; past it new ones are dropped.
    queue_size: int = 10000
    # The config files, read by oslo.messaging itself ([oslo_messaging_rabbit]).
    config_files: tuple[Path, ...] = ()

    @property
    def enabled(self) -> bool:
        return any(driver != "noop" for driver in self.drivers)


@dataclass(frozen=True)
class QuotaSettings:
    """Storage quotas: `[DEFAULT] user_storage_quota` (bytes; 0: none) and
    `use_keystone_limits` (Keystone's unified limits, read by oslo.limit from
    the `[oslo_limit]` section of `config_files`)."""

    user_storage_quota: int = 0
    use_keystone_limits: bool = False
    config_files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    server: ServerSettings = field(default_factory=ServerSettings)
    upload: UploadSettings = field(default_factory=UploadSettings)
    formats: FormatSettings = field(default_factory=FormatSettings)
    listing: ListingSettings = field(default_factory=ListingSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    image_limits: ImageLimitSettings = field(default_factory=ImageLimitSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    healthcheck: HealthcheckSettings = field(default_factory=HealthcheckSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    scrub: ScrubSettings = field(default_factory=ScrubSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)


def embedded_settings(data_dir: Path) -> Settings:
    """Glint's defaults: SQLite and a filesystem store under `data_dir`."""
    data_dir = data_dir.resolve()
    return Settings(
        database=DatabaseSettings(url=f"sqlite:///{data_dir / 'glint.db'}", embedded=True),
        store=StoreSettings(filesystem_store_datadir=data_dir / "images"),
    )
