"""glance-api.conf keys for format inspection and interoperable import."""

from __future__ import annotations

from pathlib import Path

import pytest

from glint.config_file import ConfigError, settings_from_files


def _settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "glance-api.conf"
    path.write_text(text)
    return settings_from_files([path], tmp_path)


def test_defaults(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    assert settings.formats.require_image_format_match is True
    assert settings.formats.vmdk_allowed_types == ("streamOptimized", "monolithicSparse")
    assert settings.imports.enabled_import_methods == ("glance-direct", "web-download",
                                                       "copy-image")
    assert settings.imports.allowed_ports == (80, 443)
    assert settings.imports.staging_dir is None


def test_keys_are_read(tmp_path: Path) -> None:
    settings = _settings(tmp_path, """
[DEFAULT]
enabled_import_methods = [glance-direct,web-download]
node_staging_uri = file:///var/lib/glance/staging/
[image_format]
require_image_format_match = false
vmdk_allowed_types = streamOptimized
gpt_safety_checks_nonfatal = mbr
[import_filtering_opts]
allowed_hosts = images.example.org
allowed_ports = 80,8080
[image_import_opts]
image_import_plugins = ['image_decompression', 'image_conversion']
[image_conversion]
output_format = qcow2
[inject_metadata_properties]
inject = a:1,b:two
ignore_user_roles = admin,service
""")
    assert settings.formats.require_image_format_match is False
    assert settings.formats.vmdk_allowed_types == ("streamOptimized",)
    assert settings.formats.gpt_safety_checks_nonfatal == ("mbr",)
    assert settings.imports.enabled_import_methods == ("glance-direct", "web-download")
    assert settings.imports.staging_dir == Path("/var/lib/glance/staging/")
    assert settings.imports.allowed_hosts == ("images.example.org",)
    assert settings.imports.allowed_ports == (80, 8080)
    assert settings.imports.image_import_plugins == ("image_decompression", "image_conversion")
    assert settings.imports.conversion_output_format == "qcow2"
    assert settings.imports.inject_metadata == (("a", "1"), ("b", "two"))
    assert settings.imports.inject_ignore_user_roles == ("admin", "service")


@pytest.mark.parametrize(("text", "key"), [
    ("[DEFAULT]\nenabled_import_methods = carrier-pigeon\n", "enabled_import_methods"),
    ("[DEFAULT]\nnode_staging_uri = s3://bucket/\n", "node_staging_uri"),
    ("[import_filtering_opts]\nallowed_ports = http\n", "allowed_ports"),
    ("[inject_metadata_properties]\ninject = novalue\n", "inject"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _settings(tmp_path, text)
