"""Ceph's S3 gateway (RGW, Debian `radosgw`) on a test Ceph cluster.

A second, independent S3 implementation for the s3 driver's contract: it
runs in the foreground on a free port, stores objects in the cluster's
pools and is killed at the end. RGW needs `crc` messenger modes to talk to
a cluster without cephx.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port
from tests.stores.backends import CephCluster, S3Server, _apt_install, _stop, _wait_for

RGW_ACCESS_KEY = "glintrgwkey"
RGW_SECRET_KEY = "glintrgwsecret"
RGW_NAME = "client.rgw.glint"


def ensure_radosgw_installed() -> None:
    if not shutil.which("radosgw"):
        _apt_install("radosgw")


@contextmanager
def radosgw(cluster: CephCluster, folder: Path) -> Iterator[S3Server]:
    """RGW on `cluster` with one user holding RGW_ACCESS_KEY/RGW_SECRET_KEY."""
    ensure_radosgw_installed()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    keyring = folder / "keyring"
    # A key of its own: used when the cluster requires cephx, harmless when it does not.
    subprocess.run(["ceph", "-c", str(cluster.conf), "auth", "get-or-create", RGW_NAME,
                    "mon", "allow rw", "osd", "allow rwx", "-o", str(keyring)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    conf = folder / "ceph.conf"
    conf.write_text(cluster.conf.read_text() + f"""
[{RGW_NAME}]
rgw data = {folder}
keyring = {keyring}
rgw frontends = beast endpoint=127.0.0.1:{port}
rgw dns name = 127.0.0.1
ms mon client mode = crc
ms client mode = crc
""")
    log = folder / "radosgw.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["radosgw", "-f", "-c", str(conf), "-n", RGW_NAME, "--log-file", str(log)],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        # RGW creates its pools at first start.
        _wait_for(f"http://127.0.0.1:{port}/", process, log, timeout=120)
        subprocess.run(
            ["radosgw-admin", "-c", str(conf), "-n", RGW_NAME, "user", "create", "--uid=glint",
             "--display-name=glint", f"--access-key={RGW_ACCESS_KEY}",
             f"--secret-key={RGW_SECRET_KEY}"],
            check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        yield S3Server(f"http://127.0.0.1:{port}", RGW_ACCESS_KEY, RGW_SECRET_KEY, process)
    finally:
        _stop(process)
