#!/usr/bin/env python3
"""The integrity auditor's read rate: `make bench-audit` (python bench/audit.py).

Starts SeaweedFS (S3) with the test suite's own start function and one `glint serve`
(2 workers, SQLite, no auth) with two stores, `file` (filesystem) and `s3` (SeaweedFS),
uploads the same random file (1 GiB by default) to each, then, for each store and each
repetition (medians of 3 by default):

    plain       a plain read of the stored data, discarded: the file with `pread` into a
                4 MiB buffer after the page cache is dropped (and again warm); the S3
                object with one boto3 `get_object` read in 2 MiB blocks
    read+hash   the same read, each block hashed by md5 and sha512 on two threads (as the
                auditor hashes): the hash-bound ceiling
    audit       `glint audit --image ID --store STORE --json`: size / wall time of the
                command (and size / the auditor's own `seconds`, process start excluded)
    --rate      the same with `--rate 100` (MB/s): achieved (size / the auditor's own
                `seconds`) against asked, target within 10 %

Issue 13's target: audit >= 0.8 x plain. Prints a table and writes bench/.work/audit.json.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from bench_main import ensure_payload  # noqa: E402
from common import MB, free_port, log, stop_process  # noqa: E402
from tests.stores.backends import S3Server, seaweedfs  # noqa: E402
from workload import create_image  # noqa: E402

import servers  # noqa: E402

MIB = 1024 * 1024
RESULTS = BENCH / ".work" / "audit.json"
FILE_READ = 4 * MIB
S3_READ = 2 * MIB
# At most this many blocks are being hashed while the next is read (as stores/hashing.py).
BLOCKS_IN_FLIGHT = 2
AUDIT_VS_PLAIN = 0.8
RATE_TOLERANCE = 0.10
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
STORES = ("file", "s3")


@dataclass
class Figures:
    """MB/s of each repetition, for one store."""

    plain: list[float] = field(default_factory=list)
    plain_warm: list[float] = field(default_factory=list)
    read_hash: list[float] = field(default_factory=list)
    audit_wall: list[float] = field(default_factory=list)
    audit_own: list[float] = field(default_factory=list)
    # Size / (wall time less start_seconds): the read rate of a pass over many images.
    audit_net: list[float] = field(default_factory=list)
    rate_own: list[float] = field(default_factory=list)
    rate_wall: list[float] = field(default_factory=list)
    # Seconds of `glint audit --report --json` (imports, config, stores, database; no read).
    start_seconds: list[float] = field(default_factory=list)


@dataclass
class Site:
    """The server, its config file, and where each store keeps the image."""

    url: str
    config: Path
    database: Path
    images: dict[str, str] = field(default_factory=dict)


@contextmanager
def glint_two_stores(folder: Path, s3_options: dict[str, object]) -> Iterator[Site]:
    """`glint serve` with 2 workers on SQLite and the stores `file` and `s3`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    port = free_port()
    database = folder / "glint.db"
    config = servers._write_ini(folder / "glint-api.conf", {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": port, "workers": 2,
                    "enabled_backends": "file:file, s3:s3"},
        "database": {"connection": f"sqlite:///{database}"},
        "glance_store": {"default_backend": "file"},
        "file": {"filesystem_store_datadir": folder / "images"},
        "s3": s3_options,
        "paste_deploy": {"flavor": ""},
    })
    glint_bin = str(servers.REPO_VENV / "bin" / "glint")
    servers._run_quietly([glint_bin, "db", "sync", "--config-file", str(config)], folder)
    log_path = folder / "server.log"
    process = servers._spawn([glint_bin, "serve", "--config-file", str(config)], folder, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        servers._wait_ready("Glint", url, process, log_path)
        yield Site(url, config, database)
    finally:
        stop_process(process)


def upload_to(site: Site, store: str, payload: Path, checksum: str) -> str:
    """PUT the payload into `store` (X-Image-Meta-Store) and check the image."""
    size = payload.stat().st_size
    with httpx.Client(timeout=600) as client:
        image_id = create_image(client, site.url, f"bench-audit-{store}")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size),
                   "X-Image-Meta-Store": store}
        response = client.put(f"{site.url}/v2/images/{image_id}/file",
                              content=_file_blocks(payload), headers=headers)
        if response.status_code != 204:
            raise RuntimeError(f"upload to {store} -> {response.status_code}: {response.text}")
        _check_active(client, site, image_id, payload, checksum)
    return image_id


def _file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while block := source.read(FILE_READ):
            yield block


def _check_active(client: httpx.Client, site: Site, image_id: str, payload: Path,
                  checksum: str) -> None:
    image = client.get(f"{site.url}/v2/images/{image_id}").json()
    if (image["status"], image["size"], image["checksum"]) != (
            "active", payload.stat().st_size, checksum):
        raise RuntimeError(f"image {image_id} is not the upload: {image}")


def location_of(site: Site, image_id: str, store: str) -> str:
    with sqlite3.connect(site.database) as connection:
        row = connection.execute(
            "SELECT url FROM image_locations WHERE image_id = ? AND store = ?",
            (image_id, store)).fetchone()
    if row is None:
        raise RuntimeError(f"image {image_id} has no location in store {store}")
    return str(row[0])


def drop_page_cache(path: Path) -> None:
    """Empty the page cache (`echo 3 > /proc/sys/vm/drop_caches`, as root); without the
    right to, drop only `path`'s pages (posix_fadvise DONTNEED)."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def file_blocks(path: Path) -> Iterator[bytes]:
    """The file in FILE_READ blocks (a fresh buffer each: the hashers may still hold one)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        position = 0
        while block := os.pread(descriptor, FILE_READ, position):
            position += len(block)
            yield block
    finally:
        os.close(descriptor)


def plain_file_read(path: Path) -> int:
    """`cat file > /dev/null`: readinto one reused buffer; the bytes read."""
    buffer = bytearray(FILE_READ)
    view = memoryview(buffer)
    total = 0
    with path.open("rb", buffering=0) as source:
        while count := source.readinto(view):
            total += count
    return total


def s3_blocks(s3: S3Server, bucket: str, key: str) -> Iterator[bytes]:
    """One get_object, read in S3_READ blocks (the request Glint's s3 store makes)."""
    client: Any = s3.client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        while block := body.read(S3_READ):
            yield block
    finally:
        body.close()


def read_only(blocks: Iterator[bytes]) -> int:
    return sum(len(block) for block in blocks)


def read_and_hash(blocks: Iterator[bytes]) -> int:
    """Each block to md5 and sha512 on two threads while the next one is read."""
    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    total = 0
    pending: list[tuple[Future[None], Future[None]]] = []
    with ThreadPoolExecutor(1) as md5_thread, ThreadPoolExecutor(1) as sha_thread:
        for block in blocks:
            total += len(block)
            while len(pending) >= BLOCKS_IN_FLIGHT:
                for future in pending.pop(0):
                    future.result()
            pending.append((md5_thread.submit(md5.update, block),
                            sha_thread.submit(sha512.update, block)))
        for futures in pending:
            for future in futures:
                future.result()
    return total


def timed(read: Callable[[], int], size: int) -> float:
    started = time.perf_counter()
    received = read()
    elapsed = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"read {received} bytes, expected {size}")
    return size / elapsed / MB


def run_audit(site: Site, image_id: str, store: str, size: int,
              rate: float | None = None) -> tuple[float, float]:
    """`glint audit --image --store --json` [--rate]: (MB/s by wall time, MB/s by the
    auditor's own seconds). The copy must check good."""
    command = [str(servers.REPO_VENV / "bin" / "glint"), "audit", "--config-file",
               str(site.config), "--image", image_id, "--store", store, "--json"]
    if rate is not None:
        command += ["--rate", str(rate)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"glint audit failed ({done.returncode}): {done.stderr[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    if (found["checked"], found["bytes"], found["mismatches"], found["unreadable"]) != (
            1, size, 0, 0):
        raise RuntimeError(f"glint audit of {store} did not check the copy good: {found}")
    return size / wall / MB, size / found["seconds"] / MB


def start_seconds(site: Site) -> float:
    """Wall seconds of `glint audit --report --json`: what every run pays before it reads."""
    command = [str(servers.REPO_VENV / "bin" / "glint"), "audit", "--config-file",
               str(site.config), "--report", "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"glint audit --report failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def measure(site: Site, s3: S3Server, bucket: str, payload: Path, repetitions: int,
            rate: float) -> dict[str, Figures]:
    size = payload.stat().st_size
    figures = {store: Figures() for store in STORES}
    path = Path(unquote(urlsplit(location_of(site, site.images["file"], "file")).path))
    key = urlsplit(location_of(site, site.images["s3"], "s3")).path.rsplit("/", 1)[-1]
    for repetition in range(repetitions):
        log(f"repetition {repetition + 1}/{repetitions}")
        # File store: every figure but the warm one starts from an empty page cache.
        on_file = figures["file"]
        drop_page_cache(path)
        on_file.plain.append(timed(lambda: plain_file_read(path), size))
        on_file.plain_warm.append(timed(lambda: plain_file_read(path), size))
        drop_page_cache(path)
        on_file.read_hash.append(timed(lambda: read_and_hash(file_blocks(path)), size))
        drop_page_cache(path)
        wall, own = run_audit(site, site.images["file"], "file", size)
        on_file.audit_wall.append(wall)
        on_file.audit_own.append(own)
        drop_page_cache(path)
        wall, own = run_audit(site, site.images["file"], "file", size, rate)
        on_file.rate_wall.append(wall)
        on_file.rate_own.append(own)
        on_file.start_seconds.append(start_seconds(site))
        # S3 store (SeaweedFS keeps its volumes in the page cache as it likes).
        on_s3 = figures["s3"]
        on_s3.plain.append(timed(lambda: read_only(s3_blocks(s3, bucket, key)), size))
        on_s3.read_hash.append(timed(lambda: read_and_hash(s3_blocks(s3, bucket, key)), size))
        wall, own = run_audit(site, site.images["s3"], "s3", size)
        on_s3.audit_wall.append(wall)
        on_s3.audit_own.append(own)
        wall, own = run_audit(site, site.images["s3"], "s3", size, rate)
        on_s3.rate_wall.append(wall)
        on_s3.rate_own.append(own)
        on_s3.start_seconds.append(on_file.start_seconds[-1])
        for measured in figures.values():
            wall_seconds = size / MB / measured.audit_wall[-1]
            measured.audit_net.append(
                size / MB / max(wall_seconds - measured.start_seconds[-1], 1e-3))
        for store in STORES:
            latest = {name: round(values[-1], 1) for name, values in asdict(figures[store]).items()
                      if values}
            log(f"  {store}: {latest}")
    return figures


def run(size_mib: int, repetitions: int, rate: float) -> dict[str, Figures]:
    servers.WORK.mkdir(parents=True, exist_ok=True)
    payload, checksum = ensure_payload(size_mib * MIB)
    work = servers.WORK / "audit"
    with ExitStack() as stack:
        s3: S3Server = stack.enter_context(seaweedfs(work / "s3"))
        s3_options = s3.options()
        site = stack.enter_context(glint_two_stores(work / "glint", s3_options))
        for store in STORES:
            log(f"uploading {size_mib} MiB to store {store}")
            site.images[store] = upload_to(site, store, payload, checksum)
        # One untimed audit of each: a fresh SeaweedFS is slower at first.
        for store in STORES:
            run_audit(site, site.images[store], store, payload.stat().st_size)
        return measure(site, s3, str(s3_options["s3_store_bucket"]), payload, repetitions,
                       rate)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(figures: dict[str, Figures], rate: float) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = {}
    for store, measured in figures.items():
        medians = {name: _median(values) for name, values in asdict(measured).items()}
        medians["audit/plain"] = medians["audit_wall"] / medians["plain"]
        medians["audit/read_hash"] = medians["audit_wall"] / medians["read_hash"]
        medians["own/plain"] = medians["audit_own"] / medians["plain"]
        medians["own/read_hash"] = medians["audit_own"] / medians["read_hash"]
        medians["net/plain"] = medians["audit_net"] / medians["plain"]
        medians["rate/asked"] = medians["rate_own"] / rate
        rows[store] = medians
    print("\nMB/s, median of each repetition (audit = size / wall time of `glint audit`; "
          "net = the same less the start of an audit that reads nothing; "
          "own = size / the auditor's own seconds)")
    header = (f"{'store':<6}{'plain':>8}{'warm':>8}{'rd+hash':>9}{'audit':>8}{'own':>8}"
              f"{'net':>8}{'aud/plain':>11}{'aud/r+h':>9}{'net/plain':>11}{'own/plain':>11}"
              f"{'own/r+h':>9}{'start s':>9}"
              f"{'rate ' + format(rate, 'g'):>10}{'/asked':>8}")
    print(header)
    for store, row in rows.items():
        print(f"{store:<6}{row['plain']:8.0f}{row['plain_warm']:8.0f}{row['read_hash']:9.0f}"
              f"{row['audit_wall']:8.0f}{row['audit_own']:8.0f}{row['audit_net']:8.0f}"
              f"{row['audit/plain']:11.2f}{row['audit/read_hash']:9.2f}{row['net/plain']:11.2f}"
              f"{row['own/plain']:11.2f}{row['own/read_hash']:9.2f}{row['start_seconds']:9.2f}"
              f"{row['rate_own']:10.1f}{row['rate/asked']:8.3f}")
    print(f"\ntargets: audit/plain >= {AUDIT_VS_PLAIN}; --rate achieved within "
          f"{RATE_TOLERANCE:.0%} of {rate:g} MB/s (file: plain, read+hash and audits start "
          "from an empty page cache; warm = plain read again at once)")
    verdicts: dict[str, dict[str, bool]] = {}
    for store, row in rows.items():
        verdicts[store] = {
            "audit/plain": row["audit/plain"] >= AUDIT_VS_PLAIN,
            "rate": abs(row["rate/asked"] - 1) <= RATE_TOLERANCE,
        }
        print(f"{store}: audit/plain {'met' if verdicts[store]['audit/plain'] else 'NOT MET'}, "
              f"--rate {'held' if verdicts[store]['rate'] else 'NOT HELD'}")
    return {"rate_asked": rate, "figures": {store: asdict(f) for store, f in figures.items()},
            "medians": rows, "met": verdicts, "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0,
                        help="The --rate (MB/s) whose hold is checked.")
    options = parser.parse_args()
    log(f"load average {os.getloadavg()[0]:.1f}")
    figures = run(options.size_mib, options.repetitions, options.rate)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report(figures, options.rate), indent=2))
    log(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
