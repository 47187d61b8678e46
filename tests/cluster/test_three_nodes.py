"""Three nodes behind HAProxy on one PostgreSQL and one S3 store: uploads,
imports (with the stage-host relay), downloads and deletes spread over the
nodes; one node killed -9 in the middle of uploads and imports."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.cluster.conftest import Cluster
from tests.helpers import OCTET

SETTLED = ("active", "queued")


def _client(cluster: Cluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.url, timeout=120)


def _create(http: httpx.Client, name: str) -> str:
    response = http.post("/v2/images", json={"name": name, "disk_format": "raw",
                                             "container_format": "bare"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _wait_through_failover(http: httpx.Client, image_id: str,
                           done: Callable[[dict[str, object]], bool],
                           timeout: float = 90) -> dict[str, object]:
    """The image once `done(image)`, asking again when a node being killed drops the request."""
    deadline = time.monotonic() + timeout
    shown: dict[str, object] = {}
    while True:
        try:
            shown = http.get(f"/v2/images/{image_id}").json()
            if done(shown):
                return shown
        except (httpx.TransportError, ValueError):
            pass  # cut off, or the balancer's own 503 page while it fails over
        assert time.monotonic() < deadline, f"image {image_id} did not settle: {shown}"
        time.sleep(0.2)


def _served_by(cluster: Cluster) -> list[int]:
    """How many requests each node logged."""
    return [node.server.log.read_text().count("glint.access") for node in cluster.nodes]


def test_work_spreads_over_the_nodes(cluster: Cluster) -> None:
    before = _served_by(cluster)
    blobs = {n: os.urandom(1_000_000 + n) for n in range(9)}
    (cluster.web.root / "web.img").write_bytes(blobs[8])
    with _client(cluster) as http:
        ids = {n: _create(http, f"image-{n}") for n in blobs}
        for n in range(5):
            assert http.put(f"/v2/images/{ids[n]}/file", content=blobs[n],
                            headers=OCTET).status_code == 204
        # glance-direct: staged on whichever node the balancer picks, imported
        # through whichever it picks next (relayed to the stage host).
        for n in range(5, 8):
            assert http.put(f"/v2/images/{ids[n]}/stage", content=blobs[n],
                            headers=OCTET).status_code == 204
            response = http.post(f"/v2/images/{ids[n]}/import",
                                 json={"method": {"name": "glance-direct"}})
            assert response.status_code == 202, response.text
        response = http.post(f"/v2/images/{ids[8]}/import", json={"method": {
            "name": "web-download", "uri": f"{cluster.web.url}/web.img"}})
        assert response.status_code == 202, response.text
        for n, data in blobs.items():
            shown = _wait_through_failover(http, ids[n], lambda image: image["status"] == "active")
            assert shown["checksum"] == hashlib.md5(data).hexdigest()
            for _ in range(2):  # two downloads: two different nodes answer
                assert http.get(f"/v2/images/{ids[n]}/file").content == data
        assert len(cluster.objects()) == len(blobs)
        for image_id in ids.values():
            assert http.delete(f"/v2/images/{image_id}").status_code == 204
    after = _served_by(cluster)
    assert all(a - b >= 10 for a, b in zip(after, before, strict=True)), after
    assert cluster.objects() == []
    assert all(not any(node.staging.iterdir()) for node in cluster.nodes
               if node.staging.exists())


def _held_body(data: bytes, hold: threading.Event) -> Iterator[bytes]:
    """The data in 1 MiB pieces, the last one only once `hold` is set."""
    pieces = [data[start:start + (1 << 20)] for start in range(0, len(data), 1 << 20)]
    yield from pieces[:-1]
    hold.wait(timeout=120)
    yield pieces[-1]


def _upload_until_done(cluster: Cluster, image_id: str, data: bytes,
                       first_url: str, hold: threading.Event) -> int:
    """Upload (first to `first_url`, holding the last piece until `hold` is set;
    then through the balancer), retrying as a client would until it succeeds;
    returns the number of attempts."""
    attempts = 0
    released = threading.Event()
    released.set()
    with _client(cluster) as http:
        while True:
            attempts += 1
            first = attempts == 1
            try:
                response = http.put(
                    f"{first_url if first else cluster.url}/v2/images/{image_id}/file",
                    headers=OCTET, content=_held_body(data, hold if first else released))
                if response.status_code == 204:
                    return attempts
            except httpx.TransportError:
                pass
            # Cut off: wait until the image can take data again.
            settled = _wait_through_failover(
                http, image_id, lambda image: image["status"] in SETTLED, timeout=60)
            if settled["status"] == "active":
                return attempts
            assert attempts < 5


def _wait_for_saving(http: httpx.Client, image_ids: Iterable[str]) -> None:
    for image_id in image_ids:
        _wait_through_failover(http, image_id, lambda image: image["status"] == "saving")


def test_killing_a_node_loses_nothing(cluster: Cluster) -> None:
    uploads = {n: os.urandom(24 << 20) for n in range(8)}
    imported = {n: os.urandom(3 << 20) for n in range(4)}
    for n, data in imported.items():
        (cluster.web.root / "slow").mkdir(exist_ok=True)
        (cluster.web.root / "slow" / f"{n}.img").write_bytes(data)
    hold = threading.Event()
    victim = cluster.nodes[0]
    with _client(cluster) as http, ThreadPoolExecutor(len(uploads)) as pool:
        upload_ids = {n: _create(http, f"upload-{n}") for n in uploads}
        import_ids = {n: _create(http, f"import-{n}") for n in imported}
        # Half of the uploads surely run on the node about to die, all of them
        # still sending when it dies.
        running = [pool.submit(_upload_until_done, cluster, upload_ids[n], data,
                               victim.server.url if n % 2 == 0 else cluster.url, hold)
                   for n, data in uploads.items()]
        for n in imported:
            # Half of the imports surely run on the node about to die.
            base = victim.server.url if n % 2 == 0 else cluster.url
            response = http.post(f"{base}/v2/images/{import_ids[n]}/import", json={"method": {
                "name": "web-download", "uri": f"{cluster.web.url}/slow/{n}.img"}})
            assert response.status_code == 202, response.text
        _wait_for_saving(http, upload_ids.values())
        victim.kill()
        hold.set()
        attempts = [future.result(timeout=300) for future in running]
        for n, data in uploads.items():
            shown = _wait_through_failover(http, upload_ids[n], lambda image: image["status"] == "active")
            assert shown["checksum"] == hashlib.md5(data).hexdigest()
        for n, data in imported.items():
            shown = _wait_through_failover(http, import_ids[n], lambda image: image["status"] == "active",
                              timeout=120)
            assert shown["checksum"] == hashlib.md5(data).hexdigest()
            assert http.get(f"/v2/images/{import_ids[n]}/file").content == data
        listed = http.get("/v2/images", params={"limit": 100}).json()["images"]
    assert all(attempts[n] > 1 for n in uploads if n % 2 == 0), \
        "an upload to the killed node was not cut"
    survivors = "".join(node.server.log.read_text() for node in cluster.nodes[1:])
    for n in imported:
        if n % 2 == 0:
            assert f"of image {import_ids[n]} from worker" in survivors, "not taken over"
    assert {image["status"] for image in listed} == {"active"}
    assert len(cluster.objects()) == len(uploads) + len(imported)
    assert cluster.multipart_uploads() == []
