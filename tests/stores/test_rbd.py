"""The rbd store against a one-node cephx Ceph: the snapshot Nova clones from, locations,
cephx users, thin provisioning, options."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from glint.stores.base import StoreError
from glint.stores.options import BackendConfig, OptionError
from glint.stores.rbd import RbdStore
from tests.servers import free_port, glint_command, write_config
from tests.stores.backends import CephCluster
from tests.stores.conftest import MIB, chunks
from tests.stores.test_contract import read_all


def _store(cluster: CephCluster, **options: str) -> RbdStore:
    return RbdStore.from_config(BackendConfig("ceph", "rbd", "ceph", {
        "rbd_store_pool": cluster.pool, "rbd_store_ceph_conf": str(cluster.conf), **options}))


async def test_data_sits_behind_a_protected_snapshot(ceph_cluster: CephCluster) -> None:
    store = _store(ceph_cluster)
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(b"bootable"), size_hint=8)
    fsid = subprocess.run(["ceph", "-c", str(ceph_cluster.conf), "fsid"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert stored.location.url == f"rbd://{fsid}/{ceph_cluster.pool}/{image_id}/snap"
    snaps = subprocess.run(["rbd", "-c", str(ceph_cluster.conf), "snap", "ls", "--format",
                            "json", f"{ceph_cluster.pool}/{image_id}"],
                           capture_output=True, text=True, check=True).stdout
    assert '"name":"snap"' in snaps and '"protected":"true"' in snaps
    assert await read_all(store, stored.location, 4) == b"able"
    await store.delete(stored.location)
    await store.aclose()


async def test_missing_pool_is_reported(ceph_cluster: CephCluster) -> None:
    store = _store(ceph_cluster, rbd_store_pool="nowhere")
    with pytest.raises(StoreError) as raised:
        await store.check()
    assert raised.value.store == "ceph"
    await store.aclose()


def test_chunk_size_must_be_a_power_of_two(ceph_cluster: CephCluster) -> None:
    with pytest.raises(OptionError) as raised:
        _store(ceph_cluster, rbd_store_chunk_size="6")
    assert raised.value.key == "rbd_store_chunk_size"


async def test_cephx_user_reads_and_writes_with_its_keyring(ceph_cluster: CephCluster) -> None:
    assert ceph_cluster.cephx
    store = _store(ceph_cluster, rbd_store_user=ceph_cluster.glance_user())
    await store.check()
    stored = await store.write(str(uuid.uuid4()), chunks(b"as glance"))
    assert await read_all(store, stored.location) == b"as glance"
    await store.delete(stored.location)
    await store.aclose()


def test_wrong_cephx_key_keeps_glint_serve_from_starting(ceph_cluster: CephCluster,
                                                         tmp_path: Path) -> None:
    user = ceph_cluster.glance_user()
    keyring = tmp_path / "wrong.keyring"
    # A well-formed key that is not client.glance's.
    keyring.write_text(f"[client.{user}]\n\tkey = AQBx1UhlAAAAABAAyVw9ZDdGAvZ4ZKuU+Yk8rA==\n")
    conf = tmp_path / "ceph.conf"
    conf.write_text(re.sub(r"(?m)^keyring = .*$", f"keyring = {keyring}",
                           ceph_cluster.conf.read_text()))
    config = write_config(tmp_path / "glance-api.conf", {
        "DEFAULT": {"bind_port": free_port(), "enabled_backends": "ceph:rbd"},
        "database": {"connection": f"sqlite:///{tmp_path / 'glint.db'}"},
        "glance_store": {"default_backend": "ceph"},
        "ceph": {"rbd_store_pool": ceph_cluster.pool, "rbd_store_user": user,
                 "rbd_store_ceph_conf": conf},
    })
    glint_command("db", "sync", "--config-file", str(config))
    started = glint_command("serve", "--config-file", str(config), check=False)
    assert started.returncode == 2
    errors = [line for line in started.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "store 'ceph'" in errors[0], started.stderr
    assert f"client.{user}" in errors[0], errors


def _allocated(cluster: CephCluster, image: str) -> int:
    """Bytes the RBD image `image` has written, from `rbd diff` (holes are not listed)."""
    listed = subprocess.run(["rbd", "-c", str(cluster.conf), "diff", "--format", "json",
                             f"{cluster.pool}/{image}"],
                            capture_output=True, text=True, check=True).stdout
    return sum(extent["length"] for extent in json.loads(listed) if extent["exists"] == "true")


@pytest.mark.parametrize("thin", [True, False])
async def test_thin_provisioning_leaves_zero_blocks_unwritten(ceph_cluster: CephCluster,
                                                              thin: bool) -> None:
    store = _store(ceph_cluster, rbd_store_chunk_size="1", rbd_thin_provisioning=str(thin))
    assert store.properties()["thin_provisioning"] is thin
    zeros = bytes(2 * MIB)
    data = os.urandom(MIB)
    parts = [zeros, zeros, data, zeros, zeros, zeros, b"\0" * 7 + b"end"]
    image_id = str(uuid.uuid4())
    stored = await store.write(image_id, chunks(*parts))
    whole = b"".join(parts)
    assert await store.size(stored.location) == len(whole)
    assert await read_all(store, stored.location) == whole
    allocated = _allocated(ceph_cluster, image_id)
    if thin:
        assert allocated <= 2 * MIB, allocated
    else:
        assert allocated == len(whole)
    await store.delete(stored.location)
    await store.aclose()


def test_images_are_sparse_by_default(ceph_cluster: CephCluster) -> None:
    assert _store(ceph_cluster).properties()["thin_provisioning"] is True


async def test_download_stopped_early_closes_the_image(ceph_cluster: CephCluster) -> None:
    # Reads run ahead of the consumer; stopping must wait for them before closing.
    store = _store(ceph_cluster)
    data = os.urandom(10 * MIB)
    stored = await store.write(str(uuid.uuid4()), chunks(data), size_hint=len(data))
    reader = store.read(stored.location)
    first = await anext(reader)
    assert data.startswith(first)
    await reader.aclose()
    await store.delete(stored.location)
    await store.aclose()
