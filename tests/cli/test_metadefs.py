"""`glint db load-metadefs / export-metadefs / unload-metadefs` on every database backend."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS
from tests.servers import REPO, database, glint_command, write_config

UPSTREAM = REPO.parent / "shared" / "metadefs"
GLINT_MANAGE = Path(sys.executable).parent / "glint-manage"
SHIPPED = REPO / "src" / "glint" / "metadefs"


@pytest.fixture(params=BACKENDS)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    with database(request.param, tmp_path) as url:
        path = write_config(tmp_path / "glance-api.conf", {"database": {"connection": url}})
        glint_command("db", "sync", "--config-file", str(path))
        yield path


def _normalized(document: dict[str, Any]) -> dict[str, Any]:
    """A definition file with Glint's defaults for what it leaves out."""
    return {
        **document,
        "visibility": document.get("visibility", "private"),
        "protected": document.get("protected", False),
        "resource_type_associations": document.get("resource_type_associations", []),
        "properties": document.get("properties", {}),
        "objects": document.get("objects", []),
        "tags": document.get("tags", []),
    }


def _documents(folder: Path) -> dict[str, dict[str, Any]]:
    documents = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    return {document["namespace"]: document for document in documents}


def _load(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return glint_command("db", "load-metadefs", *args, "--config-file", str(config), check=check)


def test_upstream_files_round_trip(config: Path, tmp_path: Path) -> None:
    assert UPSTREAM.is_dir(), f"missing test data: {UPSTREAM}"
    loaded = _load(config, str(UPSTREAM))
    assert "Loaded 33 namespace(s), skipped 0, failed 0" in loaded.stdout
    out = tmp_path / "exported"
    glint_command("db", "export-metadefs", str(out), "--config-file", str(config))
    source = {name: _normalized(doc) for name, doc in _documents(UPSTREAM).items()}
    exported = _documents(out)
    assert exported.keys() == source.keys()
    for name, document in source.items():
        assert exported[name] == document, name


def test_skip_merge_prefer_new_and_overwrite(config: Path, tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    first = {"namespace": "Test::Merge", "display_name": "One", "visibility": "public",
             "properties": {"a": {"title": "A", "type": "string"}},
             "tags": [{"name": "x"}]}
    (folder / "merge.json").write_text(json.dumps(first))
    _load(config, str(folder))
    second = {"namespace": "Test::Merge", "display_name": "Two",
              "properties": {"a": {"title": "A2", "type": "string"},
                             "b": {"title": "B", "type": "integer"}},
              "tags": [{"name": "y"}]}
    (folder / "merge.json").write_text(json.dumps(second))

    def exported() -> dict[str, Any]:
        out = tmp_path / "out"
        glint_command("db", "export-metadefs", "--path", str(out), "--config-file", str(config))
        return _documents(out)["Test::Merge"]

    assert "skipped 1" in _load(config, str(folder)).stdout
    assert exported()["display_name"] == "One"
    _load(config, str(folder), "--merge")
    merged = exported()
    assert merged["display_name"] == "One" and merged["properties"]["a"]["title"] == "A"
    assert set(merged["properties"]) == {"a", "b"}
    assert [t["name"] for t in merged["tags"]] == ["x", "y"]
    _load(config, str(folder), "--merge", "--prefer-new")
    preferred = exported()
    assert preferred["display_name"] == "Two" and preferred["properties"]["a"]["title"] == "A2"
    assert preferred["visibility"] == "private"
    manage = subprocess.run(
        [str(GLINT_MANAGE), "db", "load_metadefs", "--path", str(folder), "--merge",
         "--overwrite", "--config-file", str(config)],
        capture_output=True, text=True, timeout=120)
    assert manage.returncode == 0, manage.stderr
    assert exported() == _normalized(second)


def test_option_mistakes_and_bad_files(config: Path, tmp_path: Path) -> None:
    assert _load(config, "--overwrite", check=False).returncode == 2
    assert _load(config, "--merge", "--overwrite", "--prefer-new", check=False).returncode == 2
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.json").write_text("{not json")
    (folder / "nameless.json").write_text(json.dumps({"display_name": "x"}))
    (folder / "good.json").write_text(json.dumps({"namespace": "Test::Good"}))
    result = _load(config, str(folder), check=False)
    assert result.returncode == 2
    assert "Loaded 1 namespace(s), skipped 0, failed 2" in result.stdout
    assert "broken.json" in result.stderr and "nameless.json" in result.stderr


def test_shipped_definitions_load_by_default_and_unload(config: Path, tmp_path: Path) -> None:
    shipped = _documents(SHIPPED)
    assert len(shipped) >= 5
    properties = {name for document in shipped.values() for name in document["properties"]}
    for expected in ("disk_bus", "vif_model", "cpu_policy", "watchdog_action", "rng_model",
                     "os_distro", "hypervisor_type", "img_signature"):
        assert expected in properties
    assert f"Loaded {len(shipped)} namespace(s)" in _load(config).stdout
    out = tmp_path / "out"
    glint_command("db", "export-metadefs", str(out), "--config-file", str(config))
    assert _documents(out) == {name: _normalized(doc) for name, doc in shipped.items()}
    glint_command("db", "unload-metadefs", "--config-file", str(config))
    glint_command("db", "export-metadefs", str(tmp_path / "empty"), "--config-file", str(config))
    assert list((tmp_path / "empty").glob("*.json")) == []
