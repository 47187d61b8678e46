"""The rbd store against a one-node Ceph: the snapshot Nova clones from, locations, options."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from glint.stores.base import StoreError
from glint.stores.options import BackendConfig, OptionError
from glint.stores.rbd import RbdStore
from tests.stores.backends import CephCluster
from tests.stores.conftest import chunks
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
