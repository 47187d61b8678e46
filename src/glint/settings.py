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


@dataclass(frozen=True)
class ApiSettings:
    image_size_cap: int = ONE_TIB
    show_image_direct_url: bool = False
    show_multiple_locations: bool = False
    hashing_algorithm: str = "sha512"
    limit_param_default: int = 25
    api_limit_max: int = 1000
    image_member_quota: int = 128
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_location_quota: int = 10
    disk_formats: tuple[str, ...] = DEFAULT_DISK_FORMATS
    container_formats: tuple[str, ...] = DEFAULT_CONTAINER_FORMATS
    # [image_format]: format inspection of uploaded data.
    require_image_format_match: bool = True
    vmdk_allowed_types: tuple[str, ...] = ("streamOptimized", "monolithicSparse")
    gpt_safety_checks_nonfatal: tuple[str, ...] = ()
    # Glint's own: check image properties against the OS::Glance::Image metadefs.
    validate_image_properties_with_metadefs: bool = False


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    # True when the URL is Glint's embedded default, which may migrate itself.
    embedded: bool = False


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
    disable_by_file_path: Path | None = None


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    server: ServerSettings = field(default_factory=ServerSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    healthcheck: HealthcheckSettings = field(default_factory=HealthcheckSettings)
    imports: ImportSettings = field(default_factory=ImportSettings)


def embedded_settings(data_dir: Path) -> Settings:
    """Glint's defaults: SQLite and a filesystem store under `data_dir`."""
    data_dir = data_dir.resolve()
    return Settings(
        database=DatabaseSettings(url=f"sqlite:///{data_dir / 'glint.db'}", embedded=True),
        store=StoreSettings(filesystem_store_datadir=data_dir / "images"),
    )
