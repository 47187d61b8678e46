"""glance_store's configuration: one store in [glance_store], or several with enabled_backends."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from glint.config_file import ConfigError, settings_from_files
from glint.stores.filesystem import FilesystemStore
from glint.stores.options import backends_of, default_store_of
from glint.stores.registry import build_registry

MULTISTORE = """
[DEFAULT]
enabled_backends = fast:file, cheap:file, web:http

[glance_store]
default_backend = fast

[fast]
store_description = Fast local disk
filesystem_store_datadirs = {tmp}/fast-a:200
filesystem_store_datadirs = {tmp}/fast-b:100
weight = 10

[cheap]
filesystem_store_datadir = {tmp}/cheap
filesystem_store_file_perm = 644

[web]
https_insecure = false

[os_glance_staging_store]
filesystem_store_datadir = {tmp}/staging
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "glance-api.conf"
    path.write_text(text.format(tmp=tmp_path))
    return settings_from_files([path], tmp_path)


def test_multistore(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    settings = load(tmp_path, MULTISTORE)
    store = settings.store  # type: ignore[attr-defined]
    assert store.multistore
    assert store.enabled_backends == (("fast", "file"), ("cheap", "file"), ("web", "http"))
    assert default_store_of(store) == "fast"
    assert [r.getMessage() for r in caplog.records] == []
    registry = build_registry(store)
    assert list(registry.stores) == ["fast", "cheap", "web"]
    fast = registry.stores["fast"]
    assert isinstance(fast, FilesystemStore)
    assert fast.directory == (tmp_path / "fast-a").resolve() and len(fast.directories) == 2
    assert registry.weight("fast") == 10 and registry.weight("cheap") == 0
    infos = {info.id: info for info in registry.infos()}
    assert infos["fast"].default and infos["fast"].description == "Fast local disk"
    assert infos["web"].read_only and not infos["cheap"].read_only


def test_single_store_is_a_registry_of_one(tmp_path: Path) -> None:
    settings = load(tmp_path, "[glance_store]\nstores = file\ndefault_store = file\n"
                              "filesystem_store_datadir = {tmp}/images\n")
    store = settings.store  # type: ignore[attr-defined]
    assert not store.multistore
    assert [(b.name, b.type) for b in backends_of(store)] == [("file", "file")]
    registry = build_registry(store)
    assert list(registry.stores) == ["file"] and registry.default == "file"


def test_store_options_in_wrong_sections_warn(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    load(tmp_path, MULTISTORE + "s3_store_host = x\n[unrelated]\nfilesystem_store_datadir = /x\n")
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "[os_glance_staging_store] s3_store_host" in warnings
    assert "[unrelated] filesystem_store_datadir" in warnings


@pytest.mark.parametrize("text,key", [
    ("[DEFAULT]\nenabled_backends = fast\n", "[DEFAULT] enabled_backends"),
    ("[DEFAULT]\nenabled_backends = fast:floppy\n", "[DEFAULT] enabled_backends"),
    ("[DEFAULT]\nenabled_backends = a:file,a:file\n", "[DEFAULT] enabled_backends"),
    ("[DEFAULT]\nenabled_backends = os_glance_x:file\n", "[DEFAULT] enabled_backends"),
    ("[DEFAULT]\nenabled_backends = fast:file\n", "[glance_store] default_backend"),
    ("[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = slow\n",
     "[glance_store] default_backend"),
    ("[DEFAULT]\nenabled_backends = web:http\n[glance_store]\ndefault_backend = web\n",
     "[glance_store] default_backend"),
    ("[glance_store]\nstores = file,s3\ndefault_store = http\n", "[glance_store] default_store"),
])
def test_bad_store_configuration_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(raised.value).startswith(key)


def test_store_list_options_take_both_spellings() -> None:
    from glint.stores.options import BackendConfig, OptionError

    config = BackendConfig("web", "http", "web", {
        "http_proxy_information": "{http:http://proxy:3128, https:http://proxy:3129}",
        "filesystem_store_datadirs": "[/a:200, /b:100]\n/c:50",
        "broken": "[/a, /b"})
    assert config.listing("http_proxy_information", pairs=True) == [
        "http:http://proxy:3128", "https:http://proxy:3129"]
    assert config.listing("filesystem_store_datadirs") == ["/a:200", "/b:100", "/c:50"]
    with pytest.raises(OptionError, match="broken"):
        config.listing("broken")
