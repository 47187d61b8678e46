"""The workload, the same for every server: Images API v2 calls made with httpx.

Throughputs are in MB/s with 1 MB = 10^6 bytes; latencies in milliseconds.
"""

from __future__ import annotations

import hashlib
import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
from common import MB, RssSampler, tree_cpu_seconds

READ_SIZE = 1024 * 1024
LEAN_BUFFER = 4 * 1024 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
NEW_IMAGE = {"disk_format": "raw", "container_format": "bare"}


class WorkloadError(RuntimeError):
    """The server answered something the workload cannot go on from."""


def _check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise WorkloadError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:300]}"
        )
    return response


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as source:
        while chunk := source.read(READ_SIZE):
            yield chunk


def put_stream(client: httpx.Client, url: str, path: Path) -> tuple[float, httpx.Response]:
    """PUT `path` as a Content-Length stream; return (MB/s, response)."""
    size = path.stat().st_size
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    started = time.perf_counter()
    response = client.put(url, content=file_chunks(path), headers=headers)
    elapsed = time.perf_counter() - started
    return size / elapsed / MB, response


def get_stream(client: httpx.Client, url: str) -> tuple[float, int]:
    """GET `url`, discarding the body; return (MB/s, bytes received)."""
    received = 0
    started = time.perf_counter()
    with client.stream("GET", url) as response:
        _check(response, 200)
        for chunk in response.iter_raw():
            received += len(chunk)
    return received / (time.perf_counter() - started) / MB, received


@dataclass
class LeanDownload:
    """One download by the lean client: bytes received, when it ended
    (time.perf_counter()), and the md5 of the body when one was asked for."""

    received: int
    started: float
    finished: float
    md5: str | None = None


def download_lean(url: str, *, with_md5: bool = False, timeout: float = 60) -> LeanDownload:
    """GET `url` with the standard library, `readinto` a reused 4 MiB buffer.

    httpx spends ~100 us of Python per 64 KiB read, which caps it near 1 GB/s on a 2-core
    machine: below what the servers can send. This client reaches ~4 GB/s against sendfile().
    """
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                            timeout=timeout)
    buffer = memoryview(bytearray(LEAN_BUFFER))
    digest = hashlib.md5() if with_md5 else None
    received = 0
    try:
        started = time.perf_counter()
        connection.request("GET", parts.path)
        response = connection.getresponse()
        if response.status != 200:
            raise WorkloadError(f"GET {url} -> {response.status}: {response.read(300)!r}")
        while got := response.readinto(buffer):
            received += got
            if digest is not None:
                digest.update(buffer[:got])
        finished = time.perf_counter()
    finally:
        connection.close()
    return LeanDownload(received, started, finished, digest.hexdigest() if digest else None)


def get_stream_lean(url: str) -> tuple[float, int]:
    """GET `url` with the lean client (download_lean); (MB/s, bytes)."""
    done = download_lean(url)
    return done.received / (done.finished - done.started) / MB, done.received


def create_image(client: httpx.Client, base: str, name: str) -> str:
    response = _check(client.post(f"{base}/v2/images", json={"name": name, **NEW_IMAGE}), 201)
    return str(response.json()["id"])


@dataclass
class TransferResult:
    upload_mb_s: list[float] = field(default_factory=list)
    download_mb_s: list[float] = field(default_factory=list)
    download_httpx_mb_s: list[float] = field(default_factory=list)
    upload_server_cpu_per_gb: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    peak_pss_bytes: int = 0
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)
    rss_samples: int = 0


def transfer(base: str, root_pid: int, payload: Path, md5: str, rounds: int) -> TransferResult:
    """Upload then download `payload` `rounds` times, sampling the server's memory throughout."""
    size = payload.stat().st_size
    result = TransferResult()
    with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client, \
            RssSampler(root_pid) as sampler:
        for number in range(rounds):
            image_id = create_image(client, base, f"bench-transfer-{number}")
            cpu = tree_cpu_seconds(root_pid)
            rate, response = put_stream(client, f"{base}/v2/images/{image_id}/file", payload)
            _check(response, 204)
            result.upload_server_cpu_per_gb.append(
                (tree_cpu_seconds(root_pid) - cpu) / (size / 1e9))
            image = _check(client.get(f"{base}/v2/images/{image_id}"), 200).json()
            if image["status"] != "active" or image["size"] != size or image["checksum"] != md5:
                raise WorkloadError(
                    f"after upload: status={image['status']} size={image['size']} "
                    f"checksum={image['checksum']} (expected active, {size}, {md5})"
                )
            result.upload_mb_s.append(rate)
            file_url = f"{base}/v2/images/{image_id}/file"
            for fetch, rates in ((get_stream_lean, result.download_mb_s),
                                 (lambda url: get_stream(client, url), result.download_httpx_mb_s)):
                rate, received = fetch(file_url)
                if received != size:
                    raise WorkloadError(f"download returned {received} bytes, expected {size}")
                rates.append(rate)
            _check(client.delete(f"{base}/v2/images/{image_id}"), 204)
    result.peak_rss_bytes = sampler.peak
    result.peak_pss_bytes = sampler.peak_pss
    result.peak_rss_by_pid = sampler.peak_by_pid
    result.rss_samples = sampler.samples
    return result


def create_many(base: str, count: int, workers: int = 4) -> float:
    """Create `count` metadata-only images (setup, retried); return seconds taken."""
    def create_share(first: int) -> None:
        # One client per thread: building an httpx.Client costs tens of milliseconds.
        with httpx.Client(timeout=TIMEOUT) as client:
            for number in range(first, count, workers):
                for attempt in range(8):
                    try:
                        create_image(client, base, f"bench-list-{number:05d}")
                        break
                    except (httpx.HTTPError, WorkloadError):
                        if attempt == 7:
                            raise
                        time.sleep(0.05 * (attempt + 1))

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create_share, range(workers)))
    return time.perf_counter() - started


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class ListingResult:
    limit20_p50_ms: float
    limit20_p99_ms: float
    full_listing_ms: float
    full_listing_runs_ms: list[float]
    full_listing_pages: int
    images_listed: int


def listing(base: str, expected: int, requests: int, full_runs: int) -> ListingResult:
    """`GET /v2/images?limit=20` `requests` times, then the whole list by `next` links."""
    timings: list[float] = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for _ in range(10):
            _check(client.get(f"{base}/v2/images?limit=20"), 200)
        for _ in range(requests):
            started = time.perf_counter()
            response = _check(client.get(f"{base}/v2/images?limit=20"), 200)
            timings.append((time.perf_counter() - started) * 1000)
            if len(response.json()["images"]) != 20:
                raise WorkloadError("limit=20 did not return 20 images")
        runs: list[float] = []
        pages = listed = 0
        for _ in range(full_runs):
            started = time.perf_counter()
            pages, listed = _walk_pages(client, base)
            runs.append((time.perf_counter() - started) * 1000)
            if listed != expected:
                raise WorkloadError(f"full listing returned {listed} images, expected {expected}")
    return ListingResult(
        limit20_p50_ms=statistics.median(timings),
        limit20_p99_ms=_percentile(timings, 0.99),
        full_listing_ms=statistics.median(runs),
        full_listing_runs_ms=runs,
        full_listing_pages=pages,
        images_listed=listed,
    )


def _walk_pages(client: httpx.Client, base: str) -> tuple[int, int]:
    url: str | None = f"{base}/v2/images"
    pages = listed = 0
    while url:
        body = _check(client.get(url), 200).json()
        pages += 1
        listed += len(body["images"])
        url = urljoin(base + "/", body["next"]) if body.get("next") else None
    return pages, listed


@dataclass
class ConcurrencyResult:
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_second: float
    error_kinds: dict[str, int]
    server_cpu_s: float
    client_cpu_s: float


def concurrent_churn(base: str, root_pid: int, clients: int,
                     duration: float) -> ConcurrencyResult:
    """`clients` threads each loop create + show + delete for `duration` seconds."""
    lock = threading.Lock()
    done = Counter[str]()
    deadline = time.monotonic() + duration

    def record(kind: str) -> None:
        with lock:
            done[kind] += 1

    def call(client: httpx.Client, method: str, url: str, expected: int,
             body: dict[str, str] | None = None) -> httpx.Response | None:
        try:
            response = client.request(method, url, json=body)
        except httpx.HTTPError as exc:
            record(f"{method} {type(exc).__name__}")
            return None
        if response.status_code != expected:
            record(f"{method} {response.status_code}")
            return None
        record("ok")
        return response

    def worker(number: int) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            step = 0
            while time.monotonic() < deadline:
                step += 1
                created = call(client, "POST", f"{base}/v2/images", 201,
                               {"name": f"bench-churn-{number}-{step}", **NEW_IMAGE})
                if created is None:
                    continue
                image = f"{base}/v2/images/{created.json()['id']}"
                call(client, "GET", image, 200)
                call(client, "DELETE", image, 204)

    server_cpu, client_cpu = tree_cpu_seconds(root_pid), time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    server_cpu = tree_cpu_seconds(root_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    errors = {kind: count for kind, count in done.items() if kind != "ok"}
    return ConcurrencyResult(
        clients=clients, seconds=elapsed, requests=done["ok"], errors=sum(errors.values()),
        requests_per_second=done["ok"] / elapsed, error_kinds=errors,
        server_cpu_s=server_cpu, client_cpu_s=client_cpu,
    )
