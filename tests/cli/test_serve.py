"""`glint serve` and `glint db` as an operator runs them."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from glint.db import schema
from tests.servers import GLINT, GlintServer, free_port, glint_command, wait_until_up, write_config

MANAGE = GLINT.parent / "glint-manage"


def _serve_fails(config: Path) -> str:
    done = subprocess.run([str(GLINT), "serve", "--config-file", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def _config(tmp_path: Path, **sections: dict[str, object]) -> Path:
    base: dict[str, dict[str, object]] = {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": free_port()},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"filesystem_store_datadir": tmp_path / "images"},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return write_config(tmp_path / "glance-api.conf", base)


def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    line = _serve_fails(_config(tmp_path))
    assert "[database] connection" in line and "glint db sync" in line


def test_unreachable_database_is_refused(tmp_path: Path) -> None:
    url = f"mysql+pymysql://glance:secret@127.0.0.1:{free_port()}/glance"
    line = _serve_fails(_config(tmp_path, database={"connection": url}))
    assert "[database] connection" in line and "cannot use the database" in line
    assert "secret" not in line


def test_unknown_store_is_refused(tmp_path: Path) -> None:
    line = _serve_fails(_config(tmp_path, glance_store={"stores": "file,floppy"}))
    assert "[glance_store] stores" in line and "floppy" in line


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(tmp_path, DEFAULT={"bind_port": port})
        glint_command("db", "sync", "--config-file", str(config))
        line = _serve_fails(config)
    assert "[DEFAULT] bind_port" in line


def test_db_sync_and_version_through_glint_manage(tmp_path: Path) -> None:
    config = _config(tmp_path)
    before = subprocess.run([str(MANAGE), "--config-file", str(config), "db_version"],
                            capture_output=True, text=True, check=True)
    assert before.stdout.strip() == "None"
    subprocess.run([str(MANAGE), "--config-file", str(config), "db_sync"], check=True,
                   capture_output=True)
    after = glint_command("db", "version", "--config-file", str(config))
    assert after.stdout.strip() == schema.head_revision()


def test_embedded_defaults_migrate_themselves(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(GLINT), "serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "wb"),  # noqa: SIM115
    )
    server = GlintServer(f"http://127.0.0.1:{port}", tmp_path, tmp_path, process, tmp_path / "log")
    try:
        wait_until_up(server)
        created = httpx.post(f"{server.url}/v2/images", json={"name": "embedded"})
        assert created.status_code == 201
        assert created.json()["owner"] is None
        assert (tmp_path / "data" / "glint.db").exists()
        assert (tmp_path / "data" / "images").is_dir()
    finally:
        server.stop()
