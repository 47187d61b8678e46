"""The Swift account a swift store uses, as glance_store finds it.

Either the `swift_store_auth_address`, `swift_store_user` and
`swift_store_key` options, or — with `swift_store_config_file` — the section
named by `default_swift_reference` (default `ref1`) of a glance-swift.conf
style file, whose keys are `auth_address`, `user`, `key`, `auth_version` and
the Keystone v3 domains `user_domain_id`/`user_domain_name`,
`project_domain_id`/`project_domain_name`. As in glance_store, a domain given
neither by id nor by name is the id `default`, and quotes around a value are
dropped. Locations of a store configured by reference name the reference
(`swift+config://ref1/container/object`), never the credentials.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from glint.stores.options import BackendConfig, OptionError

DEFAULT_REFERENCE = "ref1"
AUTH_VERSIONS = ("1", "2", "3")


@dataclass(frozen=True)
class SwiftAccount:
    """Credentials for one Swift account; `user` is `project:user` for Keystone."""

    auth_address: str
    user: str
    key: str
    auth_version: str = "2"
    user_domain_id: str | None = "default"
    user_domain_name: str | None = None
    project_domain_id: str | None = "default"
    project_domain_name: str | None = None


@dataclass(frozen=True)
class ConfiguredAccount:
    """The account new data goes to, and the reference names that mean the same account."""

    account: SwiftAccount
    reference: str | None = None
    aliases: frozenset[str] = frozenset()


def _unquote(value: str) -> str:
    if value and value[0] in "\"'":
        if len(value) == 1 or value[-1] != value[0]:
            raise ValueError(f"unclosed quote in {value!r}")
        return value[1:-1]
    return value


def _auth_version(config: BackendConfig, key: str, raw: str | None) -> str:
    version = raw or "2"
    if version not in AUTH_VERSIONS:
        raise OptionError(config.section, key, f"must be 1, 2 or 3, got {version!r}")
    return version


def _domains(get: dict[str, str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for kind in ("user", "project"):
        domain_id, domain_name = get.get(f"{kind}_domain_id"), get.get(f"{kind}_domain_name")
        if domain_id is None and domain_name is None:
            domain_id = "default"
        found[f"{kind}_domain_id"] = domain_id
        found[f"{kind}_domain_name"] = domain_name
    return found


def _read_references(config: BackendConfig, path: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(Path(path), encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise OptionError(config.section, "swift_store_config_file",
                          f"cannot read {path}: {exc}") from exc
    references: dict[str, dict[str, str]] = {}
    for name in parser.sections():
        try:
            references[name] = {key: _unquote(value.strip())
                                for key, value in parser.items(name) if value.strip()}
        except ValueError as exc:
            raise OptionError(config.section, "swift_store_config_file",
                              f"{path} [{name}]: {exc}") from exc
    return references


def configured_account(config: BackendConfig) -> ConfiguredAccount:
    """The account a store's options name; raises OptionError naming the key at fault."""
    fallback_version = _auth_version(config, "swift_store_auth_version",
                                     config.text("swift_store_auth_version"))
    path = config.text("swift_store_config_file")
    if path is None:
        return ConfiguredAccount(SwiftAccount(
            auth_address=config.required("swift_store_auth_address"),
            user=config.required("swift_store_user"), key=config.required("swift_store_key"),
            auth_version=fallback_version))
    reference = config.text("default_swift_reference", DEFAULT_REFERENCE) or DEFAULT_REFERENCE
    references = _read_references(config, path)
    if reference not in references:
        raise OptionError(config.section, "default_swift_reference",
                          f"{path} has no section [{reference}]")

    def account(name: str) -> SwiftAccount:
        values = references[name]
        missing = [key for key in ("auth_address", "user", "key") if key not in values]
        if missing:
            raise OptionError(config.section, "swift_store_config_file",
                              f"{path} [{name}] needs {', '.join(missing)}")
        version = values.get("auth_version")
        return SwiftAccount(
            auth_address=values["auth_address"], user=values["user"], key=values["key"],
            auth_version=fallback_version if version is None
            else _auth_version(config, "swift_store_config_file", version),
            **_domains(values))

    chosen = account(reference)
    aliases = set()
    for name, values in references.items():
        if (values.get("auth_address"), values.get("user")) == (chosen.auth_address,
                                                                chosen.user):
            aliases.add(name)
    return ConfiguredAccount(chosen, reference, frozenset(aliases))
