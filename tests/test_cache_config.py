"""The image cache's configuration keys, read as Glance reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from glint.api.schema_documents import advertised_versions
from glint.app import accepted_versions
from glint.config_file import ConfigError, settings_from_files


def _settings(tmp_path: Path, text: str) -> object:
    path = tmp_path / "glance-api.conf"
    path.write_text(text)
    return settings_from_files([path], tmp_path)


def test_defaults_leave_the_cache_off(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "[DEFAULT]\n")
    cache = settings.cache  # type: ignore[attr-defined]
    assert not cache.enabled
    assert cache.image_cache_max_size == 10 * 1024**3
    assert cache.image_cache_stall_time == 86400
    assert cache.image_cache_driver == "centralized_db"


def test_cache_keys(tmp_path: Path) -> None:
    settings = _settings(tmp_path, (
        "[DEFAULT]\nimage_cache_dir = /srv/cache\nimage_cache_max_size = 1000\n"
        "image_cache_stall_time = 60\nimage_cache_driver = centralized_db\n"
        "cache_prefetcher_interval = 5\n[paste_deploy]\nflavor = keystone+caching\n"))
    cache = settings.cache  # type: ignore[attr-defined]
    assert cache.enabled and cache.image_cache_dir == Path("/srv/cache")
    assert (cache.image_cache_max_size, cache.image_cache_stall_time,
            cache.cache_prefetcher_interval) == (1000, 60, 5)


@pytest.mark.parametrize("flavor", ["caching", "cachemanagement", "keystone+cachemanagement"])
def test_cache_flavors_accepted(tmp_path: Path, flavor: str) -> None:
    settings = _settings(tmp_path, f"[paste_deploy]\nflavor = {flavor}\n")
    assert settings.auth.flavor == flavor  # type: ignore[attr-defined]


@pytest.mark.parametrize("driver", ["sqlite", "xattr"])
def test_other_drivers_refused_by_name(tmp_path: Path, driver: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _settings(tmp_path, f"[DEFAULT]\nimage_cache_driver = {driver}\n")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("[DEFAULT] image_cache_driver:")
    assert repr(driver) in message and "centralized_db" in message


def test_unknown_driver_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown cache driver 'redis'"):
        _settings(tmp_path, "[DEFAULT]\nimage_cache_driver = redis\n")


def test_cache_versions_accepted_only_with_the_cache() -> None:
    assert "2.16" not in accepted_versions(multistore=False)
    assert {"2.14", "2.16", "2.18"} <= accepted_versions(multistore=False, cache=True)
    assert advertised_versions(multistore=False, cache=True)[0] == "2.18"
