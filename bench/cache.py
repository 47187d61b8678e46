#!/usr/bin/env python3
"""The image cache: `make bench-cache` (python bench/cache.py).

Starts SeaweedFS (S3) with the test suite's own start function and four servers, each with
2 workers on SQLite: Glint on the S3 store without a cache ("uncached"), Glint on the S3 store
with its image cache ("cached"), Glint on its file store ("file"), and upstream Glance 33 under
uWSGI on the same S3 server with its image cache (flavor "caching"). For each repetition it
uploads the same 1 GiB file to each S3-backed server, then downloads it with the lean client
(bench/workload.py): on the cached servers the first download fills the cache (cold) and the
next ones are served from it (warm). It prints the median MB/s of each and the ratios the
issue asks for, and writes bench/.work/cache.json:

    warm (Glint cached) >= 0.9 x file (Glint's file store)
    cold (Glint cached) >= 0.9 x uncached (Glint on S3, no cache)
    warm (Glint cached) >= 1.2 x warm (Glance cached)

See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from bench_main import ensure_payload  # noqa: E402
from common import MB, free_port, log, stop_process  # noqa: E402
from tests.stores.backends import S3Server, seaweedfs  # noqa: E402
from workload import create_image, download_lean, put_stream  # noqa: E402

import servers  # noqa: E402

MIB = 1024 * 1024
RESULTS = BENCH / ".work" / "cache.json"
WARM_VS_FILE = 0.9
COLD_VS_UNCACHED = 0.9
WARM_VS_GLANCE = 1.2
CACHE_MAX = 8 * 1024 * MIB


@dataclass
class Rates:
    """MB/s of each repetition."""

    uncached: list[float] = field(default_factory=list)
    file: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    glance_cold: list[float] = field(default_factory=list)
    glance_warm: list[float] = field(default_factory=list)


@contextmanager
def glint_on(folder: Path, store: dict[str, object] | None,
             cache: bool) -> Iterator[servers.Server]:
    """`glint serve` with 2 workers on SQLite: the S3 store (`store`) or the file store,
    with the image cache when `cache`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    port = free_port()
    default: dict[str, object] = {"bind_host": "127.0.0.1", "bind_port": port, "workers": 2}
    if cache:
        default.update({"image_cache_dir": folder / "cache", "image_cache_max_size": CACHE_MAX,
                        "worker_self_reference_url": f"http://127.0.0.1:{port}"})
    stores: dict[str, object] = (
        {"stores": "s3", "default_store": "s3", **store} if store is not None else
        {"stores": "file", "default_store": "file", "filesystem_store_datadir": folder / "images"})
    config = servers._write_ini(folder / "glint-api.conf", {
        "DEFAULT": default, "database": {"connection": f"sqlite:///{folder / 'glint.db'}"},
        "glance_store": stores, "paste_deploy": {"flavor": "caching" if cache else ""},
    })
    glint_bin = str(servers.REPO_VENV / "bin" / "glint")
    servers._run_quietly([glint_bin, "db", "sync", "--config-file", str(config)], folder)
    log_path = folder / "server.log"
    process = servers._spawn([glint_bin, "serve", "--config-file", str(config)], folder, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        servers._wait_ready("Glint", url, process, log_path)
        yield servers.Server("glint", "sqlite", url, process, log_path)
    finally:
        stop_process(process)


@contextmanager
def glance_on(folder: Path, store: dict[str, object]) -> Iterator[servers.Server]:
    """Upstream Glance 33 under uWSGI (2 processes) on the S3 store, with its image cache."""
    servers.ensure_glance_venv()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for sub in ("staging", "cache", "locks"):
        (folder / sub).mkdir()
    port = free_port()
    log_path = folder / "server.log"
    shutil.copy(servers.GLANCE_VENV / "etc" / "glance" / "glance-api-paste.ini", folder)
    servers._write_ini(folder / "glance-api.conf", {
        "DEFAULT": {"bind_host": "127.0.0.1", "bind_port": port, "workers": 2,
                    "node_staging_uri": f"file://{folder / 'staging'}",
                    "image_cache_dir": folder / "cache", "image_cache_max_size": CACHE_MAX,
                    "worker_self_reference_url": f"http://127.0.0.1:{port}"},
        "database": {"connection": f"sqlite:///{folder / 'glance.db'}"},
        "glance_store": {"stores": "s3", "default_store": "s3", **store},
        "oslo_concurrency": {"lock_path": folder / "locks"},
        "oslo_policy": {"policy_file": servers._glance_policy(folder),
                        "enforce_new_defaults": "False", "enforce_scope": "False"},
        "paste_deploy": {"flavor": "caching",
                         "config_file": folder / "glance-api-paste.ini"},
    })
    servers._run_quietly([str(servers.GLANCE_VENV / "bin" / "glance-manage"), "--config-dir",
                          str(folder), "db_sync"], folder)
    uwsgi_ini = servers._write_ini(folder / "uwsgi.ini", {"uwsgi": {
        "http-socket": f"127.0.0.1:{port}", "module": "glance.wsgi.api:application",
        "virtualenv": servers.GLANCE_VENV, "env": f"OS_GLANCE_CONFIG_DIR={folder}",
        "processes": 2, "threads": 1, "master": "true", "lazy-apps": "true",
        "enable-threads": "true", "buffer-size": 65535, "add-header": "Connection: close",
        "die-on-term": "true", "disable-logging": "true",
    }})
    process = servers._spawn([str(servers.GLANCE_VENV / "bin" / "uwsgi"), "--ini",
                              str(uwsgi_ini)], folder, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        servers._wait_ready("Glance", url, process, log_path, (200,))
        yield servers.Server("glance", "sqlite", url, process, log_path)
    finally:
        stop_process(process)


def _upload(server: servers.Server, payload: Path) -> str:
    with httpx.Client(timeout=600) as client:
        image_id = create_image(client, server.url, f"bench-cache-{time.time_ns()}")
        _, response = put_stream(client, f"{server.url}/v2/images/{image_id}/file", payload)
        if response.status_code != 204:
            raise RuntimeError(f"{server.name}: upload -> {response.status_code}")
    return image_id


def _download(server: servers.Server, image_id: str) -> float:
    """One timed download (MB/s). The client hashes nothing while timed: md5 on this
    2-CPU machine runs at ~750 MB/s, below what a cache hit is sent at."""
    done = download_lean(f"{server.url}/v2/images/{image_id}/file", timeout=600)
    return done.received / (done.finished - done.started) / MB


def _verify(server: servers.Server, image_id: str, checksum: str) -> None:
    """An untimed download, hashed: what the server sends is what was uploaded."""
    done = download_lean(f"{server.url}/v2/images/{image_id}/file", with_md5=True, timeout=600)
    if done.md5 != checksum:
        raise RuntimeError(f"{server.name}: the download does not match the upload")


def _cached(server: servers.Server, image_id: str, timeout: float = 120) -> None:
    """Wait until the server lists the image in its cache (the fill is published
    just after the first download ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = httpx.get(f"{server.url}/v2/cache", timeout=30).json()
        if any(entry["image_id"] == image_id for entry in listing["cached_images"]):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: {image_id} never appeared in the cache")


def run(size_mib: int, repetitions: int, with_glance: bool) -> Rates:
    payload, checksum = ensure_payload(size_mib * MIB)
    rates = Rates()
    work = servers.WORK / "cache"
    with ExitStack() as stack:
        s3: S3Server = stack.enter_context(seaweedfs(work / "s3"))
        uncached = stack.enter_context(glint_on(work / "uncached", s3.options(), cache=False))
        cached = stack.enter_context(glint_on(work / "cached", s3.options(), cache=True))
        on_file = stack.enter_context(glint_on(work / "file", None, cache=False))
        glance = (stack.enter_context(glance_on(work / "glance", s3.options()))
                  if with_glance else None)
        for repetition in range(repetitions):
            log(f"repetition {repetition + 1}/{repetitions}")
            for server, rate_list in ((uncached, rates.uncached), (on_file, rates.file)):
                image_id = _upload(server, payload)
                rate_list.append(_download(server, image_id))
                _verify(server, image_id, checksum)
            image_id = _upload(cached, payload)
            rates.cold.append(_download(cached, image_id))
            _cached(cached, image_id)
            rates.warm.append(_download(cached, image_id))
            _verify(cached, image_id, checksum)
            if glance is not None:
                glance_id = _upload(glance, payload)
                rates.glance_cold.append(_download(glance, glance_id))
                _cached(glance, glance_id)
                rates.glance_warm.append(_download(glance, glance_id))
                _verify(glance, glance_id, checksum)
    return rates


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(rates: Rates) -> dict[str, object]:
    medians = {name: _median(values) for name, values in asdict(rates).items()}
    ratios = {
        "warm/file": medians["warm"] / medians["file"],
        "cold/uncached": medians["cold"] / medians["uncached"],
        "warm/glance_warm": medians["warm"] / medians["glance_warm"],
    }
    targets = {"warm/file": WARM_VS_FILE, "cold/uncached": COLD_VS_UNCACHED,
               "warm/glance_warm": WARM_VS_GLANCE}
    for name, value in medians.items():
        print(f"{name:>12}: {value:8.1f} MB/s  {[round(v) for v in getattr(rates, name)]}")
    for name, ratio in ratios.items():
        verdict = "ok" if ratio >= targets[name] else "BELOW TARGET"
        print(f"{name:>18}: {ratio:5.2f} (target >= {targets[name]}) {verdict}")
    return {"rates": asdict(rates), "medians": medians, "ratios": ratios, "targets": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--no-glance", action="store_true",
                        help="Skip upstream Glance (no glance venv needed).")
    options = parser.parse_args()
    rates = run(options.size_mib, options.repetitions, not options.no_glance)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report(rates), indent=2))
    log(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
