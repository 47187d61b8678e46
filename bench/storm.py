#!/usr/bin/env python3
"""Boot storm: `python bench/storm.py` (or `make bench-storm`).

Upstream Glance 33 (uWSGI, as `make bench` runs it) and Glint, both on SQLite with 2 workers,
each get the same 256 MiB image; then 16 clients start downloading it from one server at the
same moment (a barrier), each a process of its own running the lean client of `make bench`
(http.client, `readinto` a 4 MiB buffer). Per server: aggregate throughput (all bytes / time
until the last client finished), the slowest and fastest client, and the server's peak RSS
during the storm. Each download's size is checked, and the md5 of one more download after
the storm. The servers take turns going first, round by round, after one untimed storm each;
medians of the rounds are compared. Targets: Glint's aggregate >= 1.5x Glance's and its slowest client <= 0.7x
Glance's slowest. Results go to bench/.work/storm.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from run import _bootstrap


@dataclass
class Storm:
    clients: int
    seconds: list[float]
    aggregate_mb_s: float
    slowest_s: float
    fastest_s: float
    peak_rss_bytes: int
    peak_pss_bytes: int
    rss_before_bytes: int
    server_cpu_s: float
    client_cpu_s: float
    load_average: list[float]


def _client(file_url: str, barrier: Any, results: Any, number: int) -> None:
    """One client process: wait for the others, download, report (number, outcome)."""
    from workload import download_lean

    barrier.wait()
    try:
        results.put((number, download_lean(file_url, timeout=300)))
    except Exception as exc:  # reported by the parent, with the others' figures
        results.put((number, repr(exc)))


def storm(root_pid: int | None, file_url: str, clients: int, size: int, md5: str) -> Storm:
    """`clients` lean downloads of `file_url` released together, each in a process of its
    own (as many machines would be; threads of one Python process would also queue for
    its interpreter lock). Checks every size, then the md5 of one more download, untimed
    (hashing inside the storm would make that client the slowest). Memory and CPU are
    those of the process tree of `root_pid` (the server), if given."""
    from common import MB, RssSampler, tree_cpu_seconds, tree_rss_bytes
    from workload import LeanDownload, WorkloadError, download_lean

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    results = context.SimpleQueue()
    processes = [context.Process(target=_client, args=(file_url, barrier, results, n))
                 for n in range(clients)]
    for process in processes:
        process.start()
    load = list(os.getloadavg())
    root = os.getpid() if root_pid is None else root_pid
    rss_before = tree_rss_bytes(root)
    server_cpu = tree_cpu_seconds(root)
    client_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    with RssSampler(root) as sampler:
        barrier.wait()
        released = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process
        outcomes = dict(results.get() for _ in processes)
        for process in processes:
            process.join()
    server_cpu = tree_cpu_seconds(root) - server_cpu
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished: list[LeanDownload] = []
    for number in range(clients):
        outcome = outcomes[number]
        if not isinstance(outcome, LeanDownload):
            raise WorkloadError(f"client {number} failed: {outcome}")
        if outcome.received != size:
            raise WorkloadError(f"client {number} got {outcome.received} bytes, not {size}")
        finished.append(outcome)
    checked = download_lean(file_url, with_md5=True, timeout=300)
    if checked.received != size or checked.md5 != md5:
        raise WorkloadError(f"a download after the storm got {checked.received} bytes with md5 "
                            f"{checked.md5}, not {size} with {md5}")
    seconds = [d.finished - released for d in finished]
    return Storm(clients, seconds, clients * size / max(seconds) / MB, max(seconds),
                 min(seconds), sampler.peak, sampler.peak_pss, rss_before, server_cpu,
                 (used.ru_utime + used.ru_stime) - (client_cpu.ru_utime + client_cpu.ru_stime),
                 load)


def _upload(server: Any, payload: Path, md5: str) -> str:
    """Create the image on `server`, upload `payload`, check it; the file's URL."""
    import httpx
    from workload import WorkloadError, create_image, put_stream

    with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client:
        image_id = create_image(client, server.url, "boot-storm")
        _, response = put_stream(client, f"{server.url}/v2/images/{image_id}/file", payload)
        image = client.get(f"{server.url}/v2/images/{image_id}").json()
    if response.status_code != 204 or image["status"] != "active" or image["checksum"] != md5:
        raise WorkloadError(f"upload: {response.status_code}, image {image}")
    return f"{server.url}/v2/images/{image_id}/file"


def _median(storms: list[Storm], field: str) -> float:
    return float(statistics.median(getattr(s, field) for s in storms))


def _rows(results: dict[str, list[Storm]]) -> list[Any]:
    from common import MB
    from report import Row

    def pair(field: str, scale: float = 1.0) -> tuple[float | None, float | None]:
        values = [(_median(results[side], field) / scale) if results.get(side) else None
                  for side in ("glance", "glint")]
        return values[0], values[1]

    rows = []
    for label, field, target, passes, digits, scale in (
        ("aggregate MB/s (median)", "aggregate_mb_s", ">= 1.5x", lambda r: r >= 1.5, 0, 1.0),
        ("slowest client s (median)", "slowest_s", "<= 0.7x", lambda r: r <= 0.7, 2, 1.0),
        ("fastest client s (median)", "fastest_s", "(none)", None, 2, 1.0),
        ("server peak RSS MB (median)", "peak_rss_bytes", "(none)", None, 0, MB),
        ("  same, as PSS", "peak_pss_bytes", "(none)", None, 0, MB),
        ("server RSS before MB", "rss_before_bytes", "(none)", None, 0, MB),
        ("server CPU s (median)", "server_cpu_s", "(none)", None, 2, 1.0),
    ):
        glance, glint = pair(field, scale)
        ratio = glint / glance if glance and glint is not None else None
        met = None if passes is None or ratio is None else passes(ratio)
        rows.append(Row(label, glance, glint, ratio, target, met, digits))
    return rows


def main() -> int:
    _bootstrap()
    from bench_main import ensure_payload
    from common import MB, log
    from report import as_json, format_table

    import servers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["glance", "glint"], help="one server only")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args()
    sides = [args.only] if args.only else ["glance", "glint"]
    started = time.time()
    servers.WORK.mkdir(exist_ok=True)
    if "glance" in sides:
        servers.ensure_glance_venv()
    payload, md5 = ensure_payload(args.size_mib * 1024 * 1024)
    size = payload.stat().st_size
    run_dir = servers.WORK / "storm"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    log(f"load average at start: {os.getloadavg()}")
    results: dict[str, list[Storm]] = {side: [] for side in sides}
    factories = {"glance": servers.glance, "glint": servers.glint}
    with ExitStack() as stack:
        running = {side: stack.enter_context(factories[side](run_dir / side, "sqlite"))
                   for side in sides}
        urls = {side: _upload(server, payload, md5) for side, server in running.items()}
        for side in sides:  # untimed: workers that have not served yet start slower
            storm(running[side].pid, urls[side], args.clients, size, md5)
        for number in range(args.rounds):
            for side in sides if number % 2 == 0 else list(reversed(sides)):
                time.sleep(1)
                result = storm(running[side].pid, urls[side], args.clients, size, md5)
                results[side].append(result)
                log(f"round {number + 1} {side}: {result.aggregate_mb_s:.0f} MB/s, slowest "
                    f"{result.slowest_s:.2f} s, fastest {result.fastest_s:.2f} s, peak RSS "
                    f"{result.peak_rss_bytes / MB:.0f} MB (before {result.rss_before_bytes / MB:.0f}),"
                    f" server CPU {result.server_cpu_s:.1f} s, client CPU "
                    f"{result.client_cpu_s:.1f} s; load {result.load_average[0]:.1f}")
    table = _rows(results)
    print()
    print(format_table(table))
    document = {
        "meta": {"clients": args.clients, "payload_bytes": size, "rounds": args.rounds,
                 "seconds": time.time() - started, "unit": "MB = 10^6 bytes",
                 "load_average_end": os.getloadavg()},
        "rounds": {side: [asdict(s) for s in storms] for side, storms in results.items()},
        "table": as_json(table),
    }
    (servers.WORK / "storm.json").write_text(json.dumps(document, indent=1))
    print(f"Results: {servers.WORK / 'storm.json'} ({time.time() - started:.0f} s)")
    return 1 if args.strict and any(row.met is False for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
