"""The deployment tutorial, step by step, with Glint in Glance's place: Keystone
set-up with the real `openstack` client, a MariaDB database and user, the
tutorial's glance-api.conf (host names and paths changed only), db_sync,
start, then the image upload and the checks an operator would make."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLIENTS
from tests.formats import crafted
from tests.keystone import Keystone
from tests.servers import GLINT, GlintServer, free_port, wait_until_up

pytestmark = pytest.mark.keystone

GLANCE_PASSWORD = "123456"

# The tutorial's own file with host names, ports and paths changed. Its
# lower-case `default` domain names match on a MariaDB-backed Keystone
# (case-insensitive collation); this Keystone runs on SQLite, so they are
# spelled as Keystone created them.
TUTORIAL_CONF = """\
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {port}

[database]
connection = mysql+pymysql://{db_user}:123456@127.0.0.1/{db_name}

[keystone_authtoken]
auth_uri = {keystone}
auth_url = {keystone}
memcached_servers = {memcached}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = glance
password = 123456

[paste_deploy]
flavor = keystone

[glance_store]
stores = file,http
default_store = file
filesystem_store_datadir = {images}
"""


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, timeout=180)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def mysql(statement: str) -> None:
    run(["mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", statement])


class Openstack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str) -> str:
        return run([str(CLIENTS / "openstack"), *args], self.env)

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "-f", "json"))


@pytest.fixture(scope="module")
def deployment(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[GlintServer, Openstack]]:
    folder = tmp_path_factory.mktemp("tutorial")
    suffix = uuid.uuid4().hex[:8]
    db_name, db_user = f"glance_{suffix}", f"glance_{suffix}"
    # CREATE DATABASE glance; GRANT ALL PRIVILEGES ... IDENTIFIED BY '123456';
    mysql(f"CREATE DATABASE {db_name}")
    mysql(f"CREATE USER '{db_user}'@'localhost' IDENTIFIED BY '{GLANCE_PASSWORD}'; "
          f"CREATE USER '{db_user}'@'%' IDENTIFIED BY '{GLANCE_PASSWORD}'; "
          f"GRANT ALL PRIVILEGES ON {db_name}.* TO '{db_user}'@'localhost'; "
          f"GRANT ALL PRIVILEGES ON {db_name}.* TO '{db_user}'@'%'")
    openstack = Openstack(keystone.client_environment())  # . admin-openrc
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    openstack("project", "create", "--domain", "default", "service")
    openstack("user", "create", "--domain", "default", "--password", GLANCE_PASSWORD, "glance")
    openstack("role", "add", "--project", "service", "--user", "glance", "admin")
    service = openstack("service", "create", "--name", "glance", "--description",
                        "OpenStack Image", "image", "-f", "value", "-c", "id").strip()
    for interface in ("public", "internal", "admin"):
        openstack("endpoint", "create", "--region", "RegionOne", "image", interface, endpoint)
    (folder / "images").mkdir()
    config = folder / "glance-api.conf"
    config.write_text(TUTORIAL_CONF.format(
        port=port, db_user=db_user, db_name=db_name, keystone=keystone.url,
        memcached=keystone.memcached_servers, images=folder / "images"))
    run([str(GLINT.parent / "glint-manage"), "--config-file", str(config), "db_sync"])
    log = folder / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(GLINT), "serve", "--config-file", str(config)],
                                   stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=folder)
    server = GlintServer(endpoint, folder, config, process, log)
    try:
        wait_until_up(server)
        yield server, openstack
    finally:
        server.stop()
        # The session's Keystone is shared: Tempest, for one, takes the first service
        # of type image in the catalog, so this one (and its endpoints) must go.
        openstack("service", "delete", service)
        mysql(f"DROP DATABASE IF EXISTS {db_name}; DROP USER IF EXISTS '{db_user}'@'localhost';"
              f" DROP USER IF EXISTS '{db_user}'@'%'")


def test_tutorial(deployment: tuple[GlintServer, Openstack], keystone: Keystone,
                  tmp_path: Path) -> None:
    server, openstack = deployment
    assert "ignoring [keystone_authtoken]" not in server.log.read_text()
    disk = tmp_path / "cirros-0.3.5-x86_64-disk.img"
    disk.write_bytes(crafted.qcow2_with(os.urandom(3 * 1024 * 1024 + 17)))
    created = openstack.json("image", "create", "cirros", "--file", str(disk),
                             "--disk-format", "qcow2", "--container-format", "bare", "--public")
    assert isinstance(created, dict)
    image_id = created["id"]
    listed = openstack.json("image", "list")
    assert isinstance(listed, list)
    assert [(i["Name"], i["Status"]) for i in listed if i["ID"] == image_id] == [
        ("cirros", "active")]
    shown = openstack.json("image", "show", image_id)
    assert isinstance(shown, dict)
    assert shown["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    assert shown["visibility"] == "public"
    saved = tmp_path / "saved.img"
    openstack("image", "save", "--file", str(saved), image_id)
    assert saved.read_bytes() == disk.read_bytes()

    admin_env = keystone.client_environment()
    glance_list = run([str(CLIENTS / "glance"), "image-list"], admin_env)
    assert image_id in glance_list

    private = openstack.json("image", "create", "admin-only", "--private",
                             "--disk-format", "raw", "--container-format", "bare")
    assert isinstance(private, dict)

    # A second user in another project.
    project, project_id = keystone.project()
    user = keystone.user(project_id, ("member",))
    demo = Openstack(keystone.client_environment(user, "pw-secret", project))
    demo_list = demo.json("image", "list")
    assert isinstance(demo_list, list)
    ids = {i["ID"] for i in demo_list}
    assert image_id in ids and private["id"] not in ids
    demo_saved = tmp_path / "demo.img"
    demo("image", "save", "--file", str(demo_saved), image_id)
    assert demo_saved.read_bytes() == disk.read_bytes()
    token = keystone.token(user, "pw-secret", project)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.delete(f"/v2/images/{image_id}",
                           headers={"X-Auth-Token": token}).status_code == 403
        assert http.get(f"/v2/images/{private['id']}",
                        headers={"X-Auth-Token": token}).status_code == 404
        assert http.get("/v2/images").status_code == 401
        assert http.get("/v2/images", headers={"X-Auth-Token": "bad"}).status_code == 401
