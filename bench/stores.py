#!/usr/bin/env python3
"""Glint's s3 and rbd stores against their backends used directly: `python bench/stores.py`.

Starts SeaweedFS (S3) and a one-node Ceph (memstore OSD) with the test suite's own start
functions, and one `glint serve` per store. Then, for each backend and each repetition, it
moves the same 1 GiB file four ways: into the backend directly (boto3 / python3-rbd) and back,
and through Glint's HTTP API (PUT and GET /v2/images/{id}/file) and back. It prints the median
MB/s of each and the Glint/direct ratio (target: at least 0.80 in both directions) and writes
bench/.work/stores.json. It also calls Glint's store driver in-process (no HTTP, no
hashing) on the same data. For reading the ratios it also measures, in the same run, the same
upload and download through Glint's file store and md5 + sha512 over the file on two threads
(the per-byte work of every Glint upload, which the direct clients do not do). See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from bench_main import ensure_payload  # noqa: E402
from common import MB, RssSampler, log  # noqa: E402
from tests.servers import GlintServer, glint_server  # noqa: E402
from tests.stores.backends import CephCluster, S3Server, ceph, seaweedfs  # noqa: E402
from workload import create_image, get_stream_lean, put_stream  # noqa: E402

from glint.stores.base import WritableStore  # noqa: E402
from glint.stores.options import BackendConfig  # noqa: E402
from glint.stores.rbd import RbdStore  # noqa: E402
from glint.stores.s3 import S3Store  # noqa: E402

MIB = 1024 * 1024
TARGET = 0.80
RESULTS = BENCH / ".work" / "stores.json"
# glance_store's defaults, used by Glint and by the direct clients alike.
S3_PART = 10 * MIB
S3_THREADS = 10
RBD_OBJECT = 8 * MIB
DIRECT_IN_FLIGHT = 4
DIRECT_READ = 2 * MIB
# The tests' memstore OSD holds 1 GiB; the benchmark's image needs room beside it.
MEMSTORE_BYTES = 4 * 1024 * MIB


@dataclass
class Rates:
    """MB/s of each repetition, per way of moving the data."""

    direct_upload: list[float] = field(default_factory=list)
    direct_download: list[float] = field(default_factory=list)
    glint_upload: list[float] = field(default_factory=list)
    glint_download: list[float] = field(default_factory=list)
    driver_upload: list[float] = field(default_factory=list)
    driver_download: list[float] = field(default_factory=list)
    glint_peak_rss_mb: float = 0.0
    # The same transfers through Glint's file store, measured beside each repetition.
    file_upload: list[float] = field(default_factory=list)
    file_download: list[float] = field(default_factory=list)


# Direct clients ---------------------------------------------------------------


def _s3_client(server: S3Server) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      max_pool_connections=S3_THREADS + 4))


def s3_direct(server: S3Server, payload: Path) -> tuple[float, float]:
    """boto3's managed upload (multipart, Glint's part size and threads), then one streamed
    GET read in 2 MiB blocks: the requests Glint makes. Returns (upload, download) MB/s."""
    from boto3.s3.transfer import TransferConfig

    client = _s3_client(server)
    bucket, key = f"direct-{uuid.uuid4().hex[:12]}", str(uuid.uuid4())
    client.create_bucket(Bucket=bucket)
    size = payload.stat().st_size
    transfer = TransferConfig(multipart_threshold=S3_PART, multipart_chunksize=S3_PART,
                              max_concurrency=S3_THREADS)
    started = time.perf_counter()
    client.upload_file(str(payload), bucket, key, Config=transfer)
    upload = size / (time.perf_counter() - started) / MB
    started = time.perf_counter()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    received = 0
    while block := body.read(DIRECT_READ):
        received += len(block)
    download = received / (time.perf_counter() - started) / MB
    if received != size:
        raise RuntimeError(f"S3 gave back {received} bytes, expected {size}")
    client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)
    return upload, download


def rbd_direct(cluster: CephCluster, payload: Path) -> tuple[float, float]:
    """python3-rbd with its asynchronous calls: create the image, write the file in 8 MiB
    (object-size) blocks, up to 4 in flight, flush; then read it back the same way.
    Returns (upload, download) MB/s."""
    import rados
    import rbd

    size = payload.stat().st_size
    name = f"direct-{uuid.uuid4().hex}"

    def settle(pending: list[Any], allowed: int) -> None:
        while len(pending) > allowed:
            completion = pending.pop(0)
            completion.wait_for_complete_and_cb()
            if completion.get_return_value() < 0:
                raise RuntimeError(f"rbd I/O failed: {completion.get_return_value()}")

    with rados.Rados(conffile=str(cluster.conf)) as connection, \
            connection.open_ioctx(cluster.pool) as ioctx:
        started = time.perf_counter()
        rbd.RBD().create(ioctx, name, size, order=RBD_OBJECT.bit_length() - 1,
                         old_format=False, features=rbd.RBD_FEATURE_LAYERING)
        pending: list[Any] = []
        with rbd.Image(ioctx, name) as image, payload.open("rb", buffering=0) as source:
            offset = 0
            while block := source.read(RBD_OBJECT):
                settle(pending, DIRECT_IN_FLIGHT - 1)
                pending.append(image.aio_write(block, offset, lambda _completion: None))
                offset += len(block)
            settle(pending, 0)
            image.flush()
        upload = size / (time.perf_counter() - started) / MB
        received = [0]

        def count(_completion: Any, data: bytes | None) -> None:
            received[0] += len(data or b"")

        started = time.perf_counter()
        with rbd.Image(ioctx, name, read_only=True) as image:
            for offset in range(0, size, RBD_OBJECT):
                settle(pending, DIRECT_IN_FLIGHT - 1)
                pending.append(image.aio_read(offset, min(RBD_OBJECT, size - offset), count))
            settle(pending, 0)
        download = size / (time.perf_counter() - started) / MB
        if received[0] != size:
            raise RuntimeError(f"RBD gave back {received[0]} bytes, expected {size}")
        rbd.RBD().remove(ioctx, name)
    return upload, download


def hashing_limit(payload: Path) -> float:
    """MB/s of md5 and sha512 over the file in 2 MiB blocks, each on a thread of its own,
    as Glint's upload path hashes (stores/hashing.py)."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    size = payload.stat().st_size
    with ThreadPoolExecutor(2) as threads, payload.open("rb", buffering=0) as source:
        started = time.perf_counter()
        while block := source.read(DIRECT_READ):
            for done in [threads.submit(md5.update, block), threads.submit(sha512.update, block)]:
                done.result()
        return size / (time.perf_counter() - started) / MB


# Glint's driver in-process ----------------------------------------------------------


async def _file_blocks(payload: Path) -> AsyncIterator[bytes]:
    with payload.open("rb", buffering=0) as source:
        while block := source.read(DIRECT_READ):
            yield block


def through_driver(make_store: Callable[[], WritableStore], payload: Path) -> tuple[float, float]:
    """Glint's store driver called here, without HTTP or hashing: `write` the file in
    2 MiB blocks (as Glint's hashing hands them over) with its size, then `read` it back.
    Returns (upload, download) MB/s."""
    size = payload.stat().st_size

    async def run() -> tuple[float, float]:
        store = make_store()
        started = time.perf_counter()
        stored = await store.write(str(uuid.uuid4()), _file_blocks(payload), size_hint=size)
        upload = size / (time.perf_counter() - started) / MB
        started = time.perf_counter()
        received = 0
        async for block in store.read(stored.location):
            received += len(block)
        download = received / (time.perf_counter() - started) / MB
        if received != size:
            raise RuntimeError(f"the driver gave back {received} bytes, expected {size}")
        await store.delete(stored.location)
        closer = getattr(store, "aclose", None)
        if closer is not None:
            await closer()
        return upload, download

    return asyncio.run(run())


def _driver(kind: str, options: dict[str, object]) -> Callable[[], WritableStore]:
    config = BackendConfig("bench", kind, "bench", {k: str(v) for k, v in options.items()})
    if kind == "s3":
        return lambda: S3Store.from_config(config)
    return lambda: RbdStore.from_config(config)


# Through Glint -----------------------------------------------------------------


def through_glint(server: GlintServer, payload: Path, md5: str) -> tuple[float, float]:
    """PUT then GET /v2/images/{id}/file (as `make bench` does); (upload, download) MB/s."""
    size = payload.stat().st_size
    with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client:
        image_id = create_image(client, server.url, "bench-store")
        url = f"{server.url}/v2/images/{image_id}/file"
        upload, response = put_stream(client, url, payload)
        if response.status_code != 204:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
        image = client.get(f"{server.url}/v2/images/{image_id}").json()
        if (image["status"], image["size"], image["checksum"]) != ("active", size, md5):
            raise RuntimeError(f"after upload: {image['status']} {image['size']} "
                               f"{image['checksum']} (expected active, {size}, {md5})")
        download, received = get_stream_lean(url)
        if received != size:
            raise RuntimeError(f"download gave {received} bytes, expected {size}")
        client.delete(f"{server.url}/v2/images/{image_id}")
    return upload, download


# Servers -----------------------------------------------------------------------


@contextmanager
def big_ceph(folder: Path) -> Iterator[CephCluster]:
    """The tests' one-node Ceph, its memstore OSD made big enough for the image.

    CEPH_ARGS reaches every Ceph command and daemon the start function runs, and the
    command line wins over the conf file it writes."""
    before = os.environ.get("CEPH_ARGS")
    os.environ["CEPH_ARGS"] = f"{before or ''} --memstore-device-bytes={MEMSTORE_BYTES}".strip()
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(ceph(folder))
        finally:
            if before is None:
                del os.environ["CEPH_ARGS"]
            else:
                os.environ["CEPH_ARGS"] = before
        yield cluster


def glint_on(stack: ExitStack, folder: Path, store: dict[str, object]) -> GlintServer:
    """`glint serve` (2 workers, no auth, SQLite) whose only store is `store`."""
    return stack.enter_context(glint_server(
        folder, f"sqlite:///{folder / 'glint.db'}", flavor="", workers=2,
        extra={"glance_store": store}))


# The run -----------------------------------------------------------------------


def measure(name: str, rates: Rates, repetitions: int,
            sides: dict[str, Callable[[], tuple[float, float]]], server: GlintServer) -> None:
    """Run every side once untimed (a fresh backend is slower at first: memstore allocates,
    SeaweedFS makes volumes), then `repetitions` times, in an order that rotates each
    repetition, so drift on a shared machine hits them alike."""
    order = list(sides.items())
    for side, move in order:
        upload, download = move()
        log(f"{name} warm-up {side}: upload {upload:.0f} MB/s, download {download:.0f} MB/s")
    with RssSampler(server.process.pid) as sampler:
        for number in range(repetitions):
            for side, move in order[number % len(order):] + order[:number % len(order)]:
                upload, download = move()
                getattr(rates, f"{side}_upload").append(upload)
                getattr(rates, f"{side}_download").append(download)
                log(f"{name} #{number + 1} {side}: upload {upload:.0f} MB/s, "
                    f"download {download:.0f} MB/s")
    rates.glint_peak_rss_mb = sampler.peak / MB


def table(results: dict[str, Rates]) -> tuple[str, bool]:
    lines = [f"{'backend':8} {'direction':9} {'direct':>7} {'driver':>7} {'Glint':>7} "
             f"{'driver/direct':>13} {'Glint/direct':>12}  target  met   "
             "(each repetition: direct / driver / Glint)"]
    all_met = True
    for backend, rates in results.items():
        for direction in ("upload", "download"):
            direct, driver, glint = (getattr(rates, f"{side}_{direction}")
                                     for side in ("direct", "driver", "glint"))
            ratio = statistics.median(glint) / statistics.median(direct)
            met = ratio >= TARGET
            all_met = all_met and met
            each = ", ".join(f"{d:.0f}/{v:.0f}/{g:.0f}"
                             for d, v, g in zip(direct, driver, glint, strict=True))
            lines.append(
                f"{backend:8} {direction:9} {statistics.median(direct):7.0f} "
                f"{statistics.median(driver):7.0f} {statistics.median(glint):7.0f} "
                f"{statistics.median(driver) / statistics.median(direct):13.2f} "
                f"{ratio:12.2f}  >= {TARGET:.2f} {'yes' if met else 'NO':4}  ({each})")
    lines.append("")
    for backend, rates in results.items():
        if rates.file_upload:
            lines.append(
                f"{backend}: Glint's file store beside it: upload "
                f"{statistics.median(rates.file_upload):.0f}, download "
                f"{statistics.median(rates.file_download):.0f} MB/s ("
                + ", ".join(f"{u:.0f}/{d:.0f}" for u, d in zip(
                    rates.file_upload, rates.file_download, strict=True)) + ")")
        lines.append(f"{backend}: peak RSS of Glint's process tree "
                     f"{rates.glint_peak_rss_mb:.0f} MB")
    return "\n".join(lines), all_met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repetitions", type=int, default=3, help="medians are reported")
    parser.add_argument("--only", choices=["s3", "rbd"], help="one backend only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()
    (BENCH / ".work").mkdir(exist_ok=True)
    payload, md5 = ensure_payload(args.size_mib * MIB)
    backends = [args.only] if args.only else ["s3", "rbd"]
    results: dict[str, Rates] = {}
    with tempfile.TemporaryDirectory(dir=BENCH / ".work") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        load = os.getloadavg()[0]
        if load > 1:
            log(f"load average is {load:.1f}: the machine is busy, figures will be noisy")
        hashing = [hashing_limit(payload)]
        file_server = glint_on(stack, folder / "glint-file", {})

        def in_file_store() -> tuple[float, float]:
            return through_glint(file_server, payload, md5)

        if "s3" in backends:
            log("starting SeaweedFS and Glint with the s3 store")
            s3 = stack.enter_context(seaweedfs(folder / "seaweedfs"))
            options = s3.options(s3_store_large_object_chunk_size=S3_PART // MIB,
                                 s3_store_thread_pools=S3_THREADS)
            server = glint_on(stack, folder / "glint-s3",
                              {"stores": "s3", "default_store": "s3", **options})
            results["s3"] = Rates()
            s3_driver = _driver("s3", options)
            measure("s3", results["s3"], args.repetitions, {
                "direct": lambda: s3_direct(s3, payload),
                "driver": lambda: through_driver(s3_driver, payload),
                "glint": lambda: through_glint(server, payload, md5),
                "file": in_file_store}, server)
        if "rbd" in backends:
            log("starting Ceph (memstore OSD) and Glint with the rbd store")
            cluster = stack.enter_context(big_ceph(folder / "ceph"))
            rbd_options: dict[str, object] = {
                "rbd_store_pool": cluster.pool, "rbd_store_ceph_conf": cluster.conf,
                "rbd_store_chunk_size": RBD_OBJECT // MIB}
            rbd_server = glint_on(stack, folder / "glint-rbd", {
                "stores": "rbd", "default_store": "rbd", **rbd_options})
            rbd_driver = _driver("rbd", rbd_options)
            results["rbd"] = Rates()
            measure("rbd", results["rbd"], args.repetitions, {
                "direct": lambda: rbd_direct(cluster, payload),
                "driver": lambda: through_driver(rbd_driver, payload),
                "glint": lambda: through_glint(rbd_server, payload, md5),
                "file": in_file_store}, rbd_server)
        hashing.append(hashing_limit(payload))
    text, met = table(results)
    print(f"\n{args.size_mib} MiB, {args.repetitions} repetitions, medians "
          f"(MB/s, 1 MB = 10^6 bytes)\n{text}\nmd5 + sha512 on two threads (every Glint "
          f"upload does it): {', '.join(f'{rate:.0f}' for rate in hashing)} MB/s "
          f"(start, end of the run)")
    RESULTS.write_text(json.dumps({"size_mib": args.size_mib,
                                   "repetitions": args.repetitions,
                                   "hashing_limit_mb_s": hashing,
                                   "results": {k: asdict(v) for k, v in results.items()}},
                                  indent=1))
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
